// One subscription at a time, pushed over a WebSocket when it connects, polled over HTTP when not.
// The socket is retried with exponential backoff (with jitter); polling runs until it is back.

const BACKOFF_FIRST_MS = 1000;
const BACKOFF_MAX_MS = 30000;

export class LiveFeed {
  constructor({ liveUrl, pollSeconds, poll, onTop, onStanding, onState }) {
    this.liveUrl = liveUrl;
    this.pollMs = pollSeconds * 1000;
    this.poll = poll; // async (subscription) => void; fetches and delivers over HTTP
    this.onTop = onTop;
    this.onStanding = onStanding;
    this.onState = onState;
    this.subscription = null;
    this.socket = null;
    this.state = null;
    this.backoffMs = BACKOFF_FIRST_MS;
    this.reconnectTimer = null;
    this.pollTimer = null;
  }

  start() {
    window.addEventListener("online", () => this.#connectSoon(0));
    this.#connect();
  }

  subscribe(subscription) {
    this.subscription = subscription;
    this.#sendSubscription();
    this.#pollNow(); // one read over HTTP at once; pushes (or polls) follow
  }

  #setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.onState(state);
  }

  #connect() {
    this.reconnectTimer = null;
    let socket;
    try {
      socket = new WebSocket(this.liveUrl);
    } catch {
      this.#lost();
      return;
    }
    this.socket = socket;
    socket.addEventListener("open", () => {
      this.backoffMs = BACKOFF_FIRST_MS;
      this.#stopPolling();
      this.#setState("live");
      this.#sendSubscription();
    });
    socket.addEventListener("message", (event) => this.#receive(event.data));
    socket.addEventListener("close", () => {
      if (this.socket === socket) this.#lost();
    });
  }

  #lost() {
    this.socket = null;
    if (this.state !== "offline") this.#setState("polling");
    this.#startPolling();
    this.#connectSoon(this.backoffMs * (0.5 + Math.random() / 2));
    this.backoffMs = Math.min(this.backoffMs * 2, BACKOFF_MAX_MS);
  }

  #connectSoon(delayMs) {
    if (this.socket) return;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => this.#connect(), delayMs);
  }

  #sendSubscription() {
    const socket = this.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN || !this.subscription) return;
    const { window: boardWindow, userId } = this.subscription;
    const message = { action: "subscribe", window: boardWindow };
    if (userId) message.user_id = userId;
    socket.send(JSON.stringify(message));
  }

  #receive(data) {
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      return;
    }
    if (message?.type === "top" && Array.isArray(message.entries)) this.onTop(message);
    else if (message?.type === "standing") this.onStanding(message);
  }

  #startPolling() {
    if (this.pollTimer === null) this.pollTimer = setInterval(() => this.#pollNow(), this.pollMs);
  }

  #stopPolling() {
    clearInterval(this.pollTimer);
    this.pollTimer = null;
  }

  async #pollNow() {
    if (!this.subscription) return;
    try {
      await this.poll(this.subscription);
      if (this.state === "offline") this.#setState(this.socket?.readyState === WebSocket.OPEN ? "live" : "polling");
    } catch (error) {
      if (error instanceof TypeError) this.#setState("offline"); // fetch found no network
    }
  }
}
