import { STALLED_CLOSE_CODE, type ClientMessage, type ServerMessage } from "../protocol.js";

/**
 * The page's one websocket to the dashboard, reopened forever after it
 * closes: 250 ms, then doubling to 2 s between attempts, back to 250 ms once
 * a socket opens. What to send on (re)opening is the caller's (LiveRuns).
 */

export type ConnectionState = "open" | "closed";

export interface ConnectionEvents {
  opened(): void;
  message(m: ServerMessage): void;
  state(state: ConnectionState, detail: string): void;
}

const FIRST_RETRY_MS = 250;
const LAST_RETRY_MS = 2000;

/** The wait before attempt n (0-based) of a run of failed attempts. */
function retryDelay(attempt: number): number {
  return Math.min(LAST_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.min(attempt, 8));
}

export function dashboardSocketUrl(loc: Pick<Location, "protocol" | "host">): string {
  return `${loc.protocol === "https:" ? "wss" : "ws"}://${loc.host}/ws`;
}

export class Connection {
  private socket?: WebSocket;
  private attempt = 0;
  private timer?: ReturnType<typeof setTimeout>;

  constructor(
    private readonly url: string,
    private readonly on: ConnectionEvents,
  ) {}

  get isOpen(): boolean {
    return this.socket?.readyState === WebSocket.OPEN;
  }

  start(): void {
    this.open();
  }

  /** Sends when open; a message that cannot go now is not queued: opening again re-subscribes from what the page holds. */
  send(message: ClientMessage): void {
    if (this.isOpen) this.socket?.send(JSON.stringify(message));
  }

  private open(): void {
    this.timer = undefined;
    let socket: WebSocket;
    try {
      socket = new WebSocket(this.url);
    } catch (err) {
      this.retry(err instanceof Error ? err.message : String(err));
      return;
    }
    this.socket = socket;
    socket.addEventListener("open", () => {
      this.attempt = 0;
      this.on.state("open", "live");
      this.on.opened();
    });
    socket.addEventListener("message", (e: MessageEvent) => {
      if (typeof e.data !== "string") return;
      let m: ServerMessage;
      try {
        m = JSON.parse(e.data) as ServerMessage;
      } catch {
        return; // not the protocol: nothing to act on
      }
      if (m !== null && typeof m === "object" && typeof m.type === "string") this.on.message(m);
    });
    socket.addEventListener("close", (e: CloseEvent) => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      this.retry(e.code === STALLED_CLOSE_CODE ? "the dashboard closed this page: it fell too far behind" : "disconnected");
    });
  }

  private retry(why: string): void {
    if (this.timer !== undefined) return;
    const wait = retryDelay(this.attempt++);
    this.on.state("closed", `${why}; reconnecting in ${wait < 1000 ? `${wait} ms` : `${wait / 1000} s`}`);
    this.timer = setTimeout(() => this.open(), wait);
  }
}
