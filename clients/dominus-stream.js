// Dominus streaming client: one dependency-free ES module, no build step.
//
//   import { streamAI } from "/client/dominus-stream.js";
//   const call = streamAI("/v1/analyze/stream", lead, {
//     onMeta: (meta) => showBadge(meta.cache),            // "hit" | "miss" | "shared" | "bypass"
//     onDelta: (delta, text) => (pre.textContent = text), // text: every delta so far
//     onError: (err) => alert(`${err.code}: ${err.message}`),
//   });
//   cancelButton.onclick = () => call.cancel();          // the server sees the disconnect
//   const result = await call.done;                      // the validated JSON (the `result` event)
//
// The server's events, in order (ARCHITECTURE.md, "HTTP"): `meta`, then `delta` (or `progress`)
// repeated, then `result` and `done`; or `error` at any point. Each frame is
// `event: NAME\ndata: JSON\n\n`; this parser also takes CRLF or CR line ends, comments, multi-line
// data and frames split anywhere across network chunks, as the SSE specification allows.

/**
 * @typedef {"hit" | "miss" | "shared" | "bypass"} CacheOutcome
 *
 * @typedef {object} MetaEvent
 * @property {string} request_id
 * @property {string} model
 * @property {string} mode
 * @property {CacheOutcome} cache
 * @property {boolean} simulated
 *
 * @typedef {object} DeltaEvent
 * @property {string} text
 *
 * @typedef {object} ProgressEvent
 * @property {string} stage
 * @property {number} fraction
 *
 * @typedef {object} ResultEvent
 * @property {Record<string, unknown>} result
 *
 * @typedef {object} DoneEvent
 * @property {number} input_tokens
 * @property {number} cached_input_tokens
 * @property {number} output_tokens
 * @property {number | null} cost_usd
 * @property {number | null} saved_cost_usd
 * @property {number | null} ttft_ms
 * @property {number} latency_ms
 *
 * @typedef {object} ErrorEvent
 * @property {string} code
 * @property {string} message
 * @property {string} request_id
 *
 * @typedef {object} StreamOptions
 * @property {(meta: MetaEvent) => void} [onMeta]
 * @property {(delta: DeltaEvent, text: string) => void} [onDelta] `text`: all delta text so far
 * @property {(progress: ProgressEvent) => void} [onProgress]
 * @property {(result: Record<string, unknown>) => void} [onResult] the `result` event's JSON
 * @property {(done: DoneEvent, result: Record<string, unknown> | undefined) => void} [onDone]
 * @property {(error: DominusStreamError) => void} [onError] not called for `cancel()`
 * @property {Record<string, string>} [headers] extra request headers (Authorization, X-Org-Id, ...)
 * @property {AbortSignal} [signal] aborting it is the same as `cancel()`
 * @property {typeof fetch} [fetchImpl] defaults to the global `fetch`
 *
 * @typedef {object} StreamHandle
 * @property {(reason?: string) => void} cancel aborts the request; `done` rejects with code "cancelled"
 * @property {Promise<Record<string, unknown>>} done resolves with the result when `done` arrives;
 *   rejects with a DominusStreamError (an `error` event, a non-2xx response, a broken stream, a cancel)
 */

/** An error from the server (`error` event or non-2xx response), the network, or a cancel. */
export class DominusStreamError extends Error {
  /**
   * @param {string} message
   * @param {{code?: string, status?: number, requestId?: string, cause?: unknown}} [details]
   */
  constructor(message, { code = "stream_error", status = 0, requestId = "", cause } = {}) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "DominusStreamError";
    /** The contract's error code (`bad_request`, `upstream_unavailable`, ...), or this client's:
     * `cancelled`, `network_error`, `http_error`, `invalid_event`, `incomplete_stream`. */
    this.code = code;
    /** The HTTP status: of a non-2xx response, else 200 once the stream had started, 0 before. */
    this.status = status;
    /** The server's request id, when known (quote it in support requests). */
    this.requestId = requestId;
  }
}

/**
 * An incremental SSE parser: feed it decoded text in any pieces; it calls `onEvent` per event.
 * Follows the WHATWG event-stream rules: lines end in CRLF, LF or CR; `:` starts a comment; a field's
 * value loses one leading space; `data` lines join with "\n"; a blank line dispatches the event
 * (type "message" when no `event` field came); an event with no `data` line is dropped.
 *
 * @param {(name: string, data: string) => void} onEvent
 * @returns {{push: (text: string) => void, end: () => void}}
 */
export function createSSEParser(onEvent) {
  let buffer = "";
  let eventName = "";
  /** @type {string[]} */
  let data = [];
  let sawData = false;
  let pendingCR = false; // the last chunk ended in CR: a LF starting the next one belongs to it

  /** @param {string} line */
  function take(line) {
    if (line === "") {
      if (sawData) onEvent(eventName || "message", data.join("\n"));
      eventName = "";
      data = [];
      sawData = false;
      return;
    }
    if (line.startsWith(":")) return; // a comment (keep-alive)
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") eventName = value;
    else if (field === "data") {
      data.push(value);
      sawData = true;
    }
    // `id` and `retry` only matter to EventSource's reconnection, which a POST cannot use.
  }

  return {
    push(text) {
      if (pendingCR && text.startsWith("\n")) text = text.slice(1);
      pendingCR = false;
      buffer += text;
      let start = 0;
      for (;;) {
        const cr = buffer.indexOf("\r", start);
        const lf = buffer.indexOf("\n", start);
        if (cr === -1 && lf === -1) break;
        const end = cr === -1 ? lf : lf === -1 ? cr : Math.min(cr, lf);
        take(buffer.slice(start, end));
        if (buffer[end] === "\r") {
          if (end + 1 === buffer.length) {
            pendingCR = true;
            start = end + 1;
            break;
          }
          start = buffer[end + 1] === "\n" ? end + 2 : end + 1;
        } else {
          start = end + 1;
        }
      }
      buffer = buffer.slice(start);
    },
    end() {
      // A final event without its blank line is incomplete: the specification drops it, and so do we.
      buffer = "";
      eventName = "";
      data = [];
      sawData = false;
      pendingCR = false;
    },
  };
}

/**
 * POST `body` as JSON to a Dominus `.../stream` route and dispatch its Server-Sent Events.
 *
 * @param {string} url e.g. "/v1/analyze/stream"
 * @param {unknown} body the request body (sent as JSON)
 * @param {StreamOptions} [options]
 * @returns {StreamHandle}
 */
export function streamAI(
  url,
  body,
  { onMeta, onDelta, onProgress, onResult, onDone, onError, headers, signal, fetchImpl } = {},
) {
  const controller = new AbortController();
  const doFetch = fetchImpl ?? globalThis.fetch.bind(globalThis);
  let cancelled = false;
  let settled = false; // `done` has resolved or rejected; later events are ignored
  let status = 0;
  let requestId = "";
  let text = "";
  /** @type {Record<string, unknown> | undefined} */
  let result;

  /** @type {(value: Record<string, unknown>) => void} */
  let resolveDone = () => {};
  /** @type {(error: DominusStreamError) => void} */
  let rejectDone = () => {};
  /** @type {Promise<Record<string, unknown>>} */
  const done = new Promise((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });
  // Errors reach onError; a caller that never awaits `done` must not get "unhandled rejection" noise.
  done.catch(() => {});

  /**
   * Settle `done` with an error. The server's own `error` event is its last: the stream is then read
   * to its end, as after `done`, so the server never mistakes the client for one that left early.
   * @param {DominusStreamError} error
   * @param {boolean} abort whether to drop the connection (a cancel, a broken stream, a client fault)
   */
  function fail(error, abort) {
    if (abort) controller.abort();
    if (settled) return;
    settled = true;
    if (!cancelled && onError) {
      try {
        onError(error);
      } catch (callbackError) {
        console.error("dominus-stream: onError threw", callbackError);
      }
    }
    rejectDone(error);
  }

  /** @param {string} [reason] */
  function cancel(reason = "cancelled by the client") {
    if (!settled) cancelled = true;
    // After `done` this only drops a connection that is still draining; nothing else changes.
    fail(new DominusStreamError(reason, { code: "cancelled", status, requestId }), true);
  }

  if (signal) {
    if (signal.aborted) queueMicrotask(() => cancel("aborted by the caller's signal"));
    else signal.addEventListener("abort", () => cancel("aborted by the caller's signal"), { once: true });
  }

  /**
   * @param {string} name
   * @param {string} raw
   */
  function dispatch(name, raw) {
    if (settled) return;
    let data;
    try {
      data = JSON.parse(raw);
    } catch (cause) {
      throw new DominusStreamError(`The server sent an unreadable '${name}' event.`, {
        code: "invalid_event",
        status,
        requestId,
        cause,
      });
    }
    switch (name) {
      case "meta":
        if (typeof data.request_id === "string" && data.request_id) requestId = data.request_id;
        onMeta?.(data);
        break;
      case "delta":
        text += typeof data.text === "string" ? data.text : "";
        onDelta?.(data, text);
        break;
      case "progress":
        onProgress?.(data);
        break;
      case "result":
        result = data.result;
        onResult?.(data.result);
        break;
      case "done":
        onDone?.(data, result);
        if (!settled) {
          settled = true;
          resolveDone(/** @type {Record<string, unknown>} */ (result));
        }
        break;
      case "error":
        fail(
          new DominusStreamError(data.message ?? "The request failed.", {
            code: data.code ?? "stream_error",
            status,
            requestId: data.request_id || requestId,
          }),
          false,
        );
        break;
      default:
        break; // unknown events are for newer clients
    }
  }

  async function run() {
    /** @type {Response} */
    let response;
    try {
      response = await doFetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "text/event-stream", ...headers },
        body: JSON.stringify(body),
        signal: controller.signal,
        cache: "no-store",
      });
    } catch (cause) {
      throw new DominusStreamError("The request could not reach the server.", { code: "network_error", cause });
    }
    status = response.status;
    requestId = response.headers.get("X-Request-Id") ?? "";
    if (!response.ok) throw await httpError(response);
    if (!response.body) {
      throw new DominusStreamError("The response has no body to stream.", {
        code: "incomplete_stream",
        status,
        requestId,
      });
    }

    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    const parser = createSSEParser(dispatch);
    for (;;) {
      let chunk;
      try {
        chunk = await reader.read();
      } catch (cause) {
        throw new DominusStreamError("The stream was interrupted.", {
          code: "network_error",
          status,
          requestId,
          cause,
        });
      }
      if (chunk.done) break;
      parser.push(chunk.value);
    }
    parser.end();
    if (!settled) {
      throw new DominusStreamError("The stream ended before its `done` event.", {
        code: "incomplete_stream",
        status,
        requestId,
      });
    }
  }

  run().catch((error) => {
    if (cancelled) return; // `done` has already rejected with "cancelled"
    fail(
      error instanceof DominusStreamError
        ? error
        : new DominusStreamError(String(error?.message ?? error), {
            code: "client_error", // a callback threw
            status,
            requestId,
            cause: error,
          }),
      true,
    );
  });

  return { cancel, done };
}

/**
 * The contract's error body, `{"error": {"code", "message", "request_id"}}`, as a DominusStreamError.
 *
 * @param {Response} response
 * @returns {Promise<DominusStreamError>}
 */
async function httpError(response) {
  const status = response.status;
  let code = "http_error";
  let message = `The server answered ${status} ${response.statusText}`.trim() + ".";
  let requestId = response.headers.get("X-Request-Id") ?? "";
  try {
    const payload = JSON.parse(await response.text());
    const error = payload && typeof payload === "object" ? payload.error : undefined;
    if (error && typeof error === "object") {
      if (typeof error.code === "string") code = error.code;
      if (typeof error.message === "string") message = error.message;
      if (typeof error.request_id === "string" && error.request_id) requestId = error.request_id;
    }
  } catch {
    // not the contract's JSON (a proxy's HTML page, say): keep the status line
  }
  return new DominusStreamError(message, { code, status, requestId });
}
