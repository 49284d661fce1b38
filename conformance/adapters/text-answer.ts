import type { Dispatcher } from "undici";

/*
 * One HTTP answer read through undici's Pool.dispatch: its status, its
 * Retry-After header and its body as text. HttpCa.call reads every answer of
 * the CA's JSON API this way instead of through `request()`, which makes a
 * Readable stream, an async resource and a promise per response: a load run
 * sends tens of thousands of requests a second from the same process as the
 * CA on a 2-core machine (issue 13), so what the client spends per request is
 * taken from the CA. Transport failures are passed on exactly as undici
 * raises them (their codes are what a load run classes them by).
 */

export interface TextAnswer {
  status: number;
  /** The Retry-After header's value (the first, when repeated), undefined without one. */
  retryAfter: string | undefined;
  /** The body decoded as UTF-8 (a leading byte-order mark dropped, as undici's body.text() does). */
  text: string;
}

const BOM = 0xfeff;

/**
 * A DispatchHandler that gathers one answer and hands it to `done`, or the
 * transport's error to `fail`. It speaks the handler interface undici's
 * Client itself calls (onConnect, onHeaders, onData, onComplete, onError;
 * marked deprecated in undici 7's types in favour of onRequestStart and
 * onResponse*, which undici wraps back into these per request and which
 * parse every response header into an object): the answer's raw headers are
 * read only for a refusal's Retry-After. Should a later undici drop them, the
 * HttpCa tests fail at the first request.
 */
export class TextAnswerHandler implements Dispatcher.DispatchHandler {
  private status = 0;
  private retryAfter: string | undefined;
  /** The body's first chunk; the usual answer fits in one, so no array is made for it. */
  private first: Buffer | undefined;
  private rest: Buffer[] | undefined;

  constructor(
    private readonly done: (answer: TextAnswer) => void,
    private readonly fail: (err: Error) => void,
  ) {}

  onConnect(): void {}

  onHeaders(statusCode: number, rawHeaders: Buffer[]): boolean {
    // A 1xx comes before the answer: the last call is the answer's.
    this.status = statusCode;
    this.retryAfter = statusCode >= 400 ? headerValue(rawHeaders, "retry-after") : undefined;
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.first === undefined) this.first = chunk;
    else (this.rest ??= []).push(chunk);
    return true;
  }

  onComplete(): void {
    const body = this.first === undefined ? "" : this.rest === undefined ? this.first.toString("utf8") : Buffer.concat([this.first, ...this.rest]).toString("utf8");
    this.done({ status: this.status, retryAfter: this.retryAfter, text: body.charCodeAt(0) === BOM ? body.slice(1) : body });
  }

  onError(err: Error): void {
    this.fail(err);
  }
}

/** The first value of header `name` (lower case) in undici's raw [name, value, name, value...] list. */
export function headerValue(raw: ReadonlyArray<Buffer | string>, name: string): string | undefined {
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const n = raw[i];
    if (n.length === name.length && n.toString("latin1").toLowerCase() === name) return raw[i + 1].toString("latin1");
  }
  return undefined;
}
