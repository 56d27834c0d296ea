// The public read routes of the leaderboard API. Every path segment taken from input is encoded.

export const WINDOWS = ["daily", "weekly", "monthly", "alltime"];
export const TOP_SIZE = 10;
export const AROUND = 2;

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export class LeaderboardApi {
  constructor(baseUrl) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
  }

  async #get(path, params = {}) {
    const query = new URLSearchParams(Object.entries(params).filter(([, value]) => value != null));
    const suffix = query.size ? `?${query}` : "";
    const response = await fetch(`${this.baseUrl}${path}${suffix}`, {
      headers: { Accept: "application/json" },
      cache: "no-store",
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = body.error ?? {};
      throw new ApiError(response.status, error.code ?? "http_error", error.message ?? response.statusText);
    }
    return body;
  }

  periods(window) {
    return this.#get(`/v1/leaderboards/${encodeURIComponent(window)}/periods`);
  }

  top(window, period) {
    return this.#get(`/v1/leaderboards/${encodeURIComponent(window)}/top`, { limit: TOP_SIZE, period });
  }

  standing(window, userId, period) {
    const path = `/v1/leaderboards/${encodeURIComponent(window)}/users/${encodeURIComponent(userId)}`;
    return this.#get(path, { around: AROUND, period });
  }
}

export async function loadConfig() {
  const response = await fetch("config.json", { cache: "no-store" });
  const config = response.ok ? await response.json() : {};
  const sameOrigin = window.location.origin;
  const wsOrigin = sameOrigin.replace(/^http/, "ws");
  return {
    apiBase: typeof config.api_base === "string" && config.api_base ? config.api_base : sameOrigin,
    liveUrl: typeof config.live_url === "string" && config.live_url ? config.live_url : `${wsOrigin}/v1/live`,
    windows: Array.isArray(config.windows) ? config.windows.filter((name) => WINDOWS.includes(name)) : null,
    pollSeconds: Number.isFinite(config.poll_seconds) ? Math.max(1, config.poll_seconds) : 3,
  };
}
