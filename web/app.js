import { ApiError, LeaderboardApi, WINDOWS, loadConfig } from "./api.js";
import { formatNumber, renderRanking } from "./board.js";
import { LiveFeed } from "./live.js";

const TAB_LABELS = { daily: "Daily", weekly: "Weekly", monthly: "Monthly", alltime: "All-time" };
const CONNECTION_LABELS = {
  connecting: "Connecting…",
  live: "Live",
  polling: "Polling",
  offline: "Offline, retrying",
};

const $ = (id) => document.getElementById(id);
const ui = {
  tabs: $("window-tabs"),
  board: $("board"),
  boardTitle: $("board-title"),
  boardMeta: $("board-meta"),
  periodPicker: $("period-picker"),
  topList: $("top-list"),
  boardEmpty: $("board-empty"),
  connection: $("connection"),
  searchForm: $("search-form"),
  playerInput: $("player-id"),
  standing: $("standing"),
  standingPlayer: $("standing-player"),
  standingRank: $("standing-rank"),
  standingPoints: $("standing-points"),
  standingPercentile: $("standing-percentile"),
  aroundList: $("around-list"),
  searchMessage: $("search-message"),
  announcer: $("announcer"),
};

const state = {
  windows: [],
  window: null,
  periods: null, // the periods route's answer for the selected window
  period: null,
  userId: null,
  total: null,
  leader: null,
  rank: null,
  pushes: 0, // messages received over the socket
};

function describePeriod(window, period) {
  if (window === "alltime" || period === "all") return "All time";
  const utc = { timeZone: "UTC" };
  if (window === "monthly") {
    const [year, month] = period.split("-").map(Number);
    return new Intl.DateTimeFormat("en", { ...utc, month: "long", year: "numeric" }).format(Date.UTC(year, month - 1, 1));
  }
  if (window === "daily") {
    const [year, month, day] = period.split("-").map(Number);
    return new Intl.DateTimeFormat("en", { ...utc, weekday: "short", day: "numeric", month: "short", year: "numeric" })
      .format(Date.UTC(year, month - 1, day));
  }
  const [year, week] = period.split("-W");
  return `Week ${Number(week)}, ${year}`;
}

function describeReset(nextReset) {
  if (!nextReset) return null;
  const when = new Intl.DateTimeFormat("en", {
    timeZone: "UTC", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  }).format(new Date(nextReset));
  return `resets ${when} UTC`;
}

function announce(text) {
  ui.announcer.textContent = text;
}

// ---- connection indicator -------------------------------------------------------------------
function showConnection(connectionState) {
  ui.connection.dataset.state = connectionState;
  ui.connection.querySelector(".connection-label").textContent = CONNECTION_LABELS[connectionState];
  ui.connection.title = connectionState === "polling" ? "Live updates unavailable: refreshing every few seconds" : "";
}

// ---- window tabs ----------------------------------------------------------------------------
function buildTabs() {
  ui.tabs.replaceChildren();
  for (const name of state.windows) {
    const tab = document.createElement("button");
    tab.type = "button";
    tab.id = `tab-${name}`;
    tab.className = "tab";
    tab.setAttribute("role", "tab");
    tab.setAttribute("aria-controls", "board");
    tab.dataset.window = name;
    tab.textContent = TAB_LABELS[name];
    tab.addEventListener("click", () => selectWindow(name));
    ui.tabs.append(tab);
  }
  ui.tabs.addEventListener("keydown", (event) => {
    const order = state.windows;
    const at = order.indexOf(state.window);
    const moves = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: order.length - 1 };
    if (!(event.key in moves)) return;
    event.preventDefault();
    const next = order[(moves[event.key] + order.length) % order.length];
    selectWindow(next);
    $(`tab-${next}`).focus();
  });
}

function markSelectedTab() {
  for (const tab of ui.tabs.children) {
    const selected = tab.dataset.window === state.window;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
  }
  ui.board.setAttribute("aria-labelledby", `tab-${state.window} board-title`);
}

async function selectWindow(name) {
  if (name === state.window && state.periods) return;
  state.window = name;
  state.periods = null;
  state.leader = null;
  state.rank = null;
  markSelectedTab();
  try {
    state.periods = await feed.api.periods(name);
  } catch {
    state.periods = { window: name, current: null, next_reset: null, periods: [] };
  }
  if (state.window !== name) return; // another tab was chosen meanwhile
  fillPeriodPicker();
  choosePeriod(state.periods.current);
}

// ---- period picker --------------------------------------------------------------------------
function fillPeriodPicker() {
  const { current, periods } = state.periods;
  const options = periods.length ? periods : current ? [current] : [];
  ui.periodPicker.replaceChildren(
    ...options.map((period) => {
      const option = document.createElement("option");
      option.value = period;
      option.textContent = period === current && state.window !== "alltime"
        ? `${describePeriod(state.window, period)} (current)`
        : describePeriod(state.window, period);
      return option;
    }),
  );
  ui.periodPicker.disabled = options.length < 2;
}

function choosePeriod(period) {
  state.period = period;
  state.total = null;
  ui.periodPicker.value = period ?? "";
  ui.topList.replaceChildren();
  renderRanking(ui.topList, []);
  showBoardMeta();
  subscribe();
}

function showBoardMeta() {
  const parts = [];
  if (state.total !== null) parts.push(`${formatNumber(state.total)} player${state.total === 1 ? "" : "s"}`);
  const isCurrent = state.periods && state.period === state.periods.current;
  if (isCurrent) {
    const reset = describeReset(state.periods.next_reset);
    if (reset) parts.push(reset);
  } else if (state.period) {
    parts.push("final standings");
  }
  ui.boardMeta.textContent = parts.join(" · ");
  ui.boardTitle.textContent = state.period ? `Top 10 · ${describePeriod(state.window, state.period)}` : "Top 10";
}

function showsBoard({ window, period }) {
  return window === state.window && period === state.period;
}

// Two pushes of one board can overlap and arrive out of order: each says when its board was read
// (`as_of`), and one read earlier than what is on screen is dropped.
const lastPushAsOf = new Map();
function isOlderPush({ window, period, as_of: asOf }, kind) {
  if (typeof asOf !== "number") return false;
  const key = `${window}/${period}/${kind}`;
  if (asOf < (lastPushAsOf.get(key) ?? -Infinity)) return true;
  lastPushAsOf.set(key, asOf);
  return false;
}

// ---- top 10 ---------------------------------------------------------------------------------
function showTop({ window, period, entries, total }) {
  if (!showsBoard({ window, period })) return; // an answer for an earlier choice
  if (typeof total === "number") state.total = total;
  renderRanking(ui.topList, entries.slice(0, 10), { highlight: state.userId });
  ui.boardEmpty.hidden = entries.length > 0;
  showBoardMeta();
  const leader = entries[0]?.user_id ?? null;
  if (state.leader !== null && leader !== null && leader !== state.leader) announce(`${leader} takes the lead`);
  state.leader = leader;
}

// ---- search ---------------------------------------------------------------------------------
function showStanding(standing) {
  if (standing.user_id !== state.userId || !showsBoard(standing)) return;
  ui.searchMessage.hidden = true;
  ui.standing.hidden = false;
  ui.standingPlayer.textContent = standing.user_id;
  ui.standingRank.textContent = `#${formatNumber(standing.rank)}`;
  ui.standingPoints.textContent = formatNumber(standing.points);
  const percentile = standing.percentile ?? estimatePercentile(standing.rank);
  if (typeof percentile === "number") ui.standingPercentile.textContent = `${formatNumber(percentile)}%`;
  if (Array.isArray(standing.around)) renderRanking(ui.aroundList, standing.around, { highlight: standing.user_id });
  if (state.rank !== null && state.rank !== standing.rank) announce(`${standing.user_id} is now rank ${standing.rank}`);
  state.rank = standing.rank;
}

// Pushed standings carry no percentile: the share of the board at or below the rank, as the API counts it.
function estimatePercentile(rank) {
  if (!state.total || !rank) return null;
  return Math.round(((state.total - rank + 1) / state.total) * 10000) / 100;
}

function showSearchProblem(text) {
  ui.standing.hidden = true;
  ui.searchMessage.hidden = false;
  ui.searchMessage.textContent = text;
}

ui.searchForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const userId = ui.playerInput.value.trim();
  if (!userId) return;
  state.userId = userId;
  state.rank = null;
  ui.searchMessage.hidden = true;
  renderRanking(ui.aroundList, []);
  subscribe();
});

// ---- data flow ------------------------------------------------------------------------------
function subscribe() {
  if (!state.window || !state.period) return;
  feed.subscribe({ window: state.window, period: state.period, userId: state.userId });
}

// A read that started before a push arrived is older than what the push showed: it is dropped.
async function poll({ window, period, userId }) {
  const pushesBefore = state.pushes;
  const top = await feed.api.top(window, period);
  if (state.pushes === pushesBefore) showTop({ window, period, entries: top.entries, total: top.total });
  else if (typeof top.total === "number") state.total = top.total;
  if (!userId) return;
  try {
    const standing = await feed.api.standing(window, userId, period);
    if (state.pushes === pushesBefore) showStanding({ ...standing, window, period });
  } catch (error) {
    if (!(error instanceof ApiError) || userId !== state.userId) throw error;
    if (error.status === 404 && error.code !== "unknown_window") {
      showSearchProblem(`No score for ${userId} in this period.`);
    } else {
      showSearchProblem(error.message);
    }
  }
}

const feed = { api: null, live: null, subscribe: (subscription) => feed.live.subscribe(subscription) };

async function enabledWindows(config) {
  if (config.windows?.length) return config.windows;
  const answers = await Promise.all(WINDOWS.map((name) => feed.api.periods(name).then(() => name, () => null)));
  return answers.filter(Boolean);
}

async function main() {
  const config = await loadConfig();
  feed.api = new LeaderboardApi(config.apiBase);
  feed.live = new LiveFeed({
    liveUrl: config.liveUrl,
    pollSeconds: config.pollSeconds,
    poll,
    // Only a push for the board on screen makes an earlier read stale: a past period's read is never
    // dropped for the current period's pushes.
    onTop: (message) => {
      if (!showsBoard(message) || isOlderPush(message, "top")) return;
      state.pushes += 1;
      showTop(message);
    },
    onStanding: (message) => {
      if (!showsBoard(message) || message.user_id !== state.userId) return;
      if (isOlderPush(message, `standing/${message.user_id}`)) return;
      state.pushes += 1;
      showStanding(message);
    },
    onState: showConnection,
  });
  ui.periodPicker.addEventListener("change", () => choosePeriod(ui.periodPicker.value));
  state.windows = await enabledWindows(config);
  buildTabs();
  feed.live.start();
  const first = state.windows.includes("monthly") ? "monthly" : state.windows[0];
  if (first) await selectWindow(first);
  document.body.dataset.ready = "true";
}

main().catch((error) => {
  showConnection("offline");
  ui.boardMeta.textContent = `The leaderboard could not be loaded: ${error.message}`;
});
