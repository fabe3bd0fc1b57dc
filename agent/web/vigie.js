/* Vigie browser client: a dependency-free JSON-RPC 2.0 client for the agent's local websocket.
 *
 *   const vigie = new Vigie.Client("ws://127.0.0.1:8743/ws", {clientName: "Mon LGC"});
 *   vigie.addEventListener("state", (e) => ...);          // "connecting" | "pairing" | "open" | "closed" | "refused"
 *   vigie.on("identity.updated", (params) => ...);        // agent events (JSON-RPC notifications)
 *   await vigie.ready();                                  // resolves once the session is open
 *   const r = await vigie.call("identity.submit", {...}); // rejects with a Vigie.RpcError (French message)
 *
 * Authentication: a token given in the options, else the one kept in localStorage, else the pairing flow
 * (`pairing.request`, the practitioner consents in Vigie). Reconnects with exponential backoff and jitter;
 * calls made while disconnected wait for the next session (they are not lost, and time out).
 */
(function (global) {
  "use strict";

  class RpcError extends Error {
    constructor(error) {
      super((error && error.message) || "Erreur Vigie");
      this.name = "RpcError";
      this.code = error && error.code;
      this.data = error && error.data;
    }
  }

  const DEFAULTS = {
    token: null,
    clientName: "LGC",
    storageKey: "vigie-token",
    minDelay: 250,
    maxDelay: 10000,
    callTimeout: 30000,
  };

  class Client extends EventTarget {
    constructor(url, options) {
      super();
      this.url = url;
      this.options = Object.assign({}, DEFAULTS, options || {});
      this.state = "closed";
      this._ws = null;
      this._nextId = 1;
      this._pending = new Map(); // id -> {resolve, reject, timer}
      this._queued = [];         // calls waiting for a session
      this._handlers = new Map(); // event name -> Set(fn)
      this._delay = this.options.minDelay;
      this._stopped = true;
      this._readyWaiters = [];
    }

    /** Start connecting (idempotent). */
    connect() {
      this._stopped = false;
      if (!this._ws) this._open();
      return this;
    }

    /** Close for good (no reconnection). */
    close() {
      this._stopped = true;
      if (this._ws) this._ws.close(1000, "fermeture");
    }

    /** Resolves when a session is open. */
    ready() {
      if (this.state === "open") return Promise.resolve(this);
      return new Promise((resolve) => this._readyWaiters.push(resolve));
    }

    on(event, fn) {
      if (!this._handlers.has(event)) this._handlers.set(event, new Set());
      this._handlers.get(event).add(fn);
      return () => this._handlers.get(event).delete(fn);
    }

    /** A JSON-RPC call; waits for the session when not connected. */
    call(method, params) {
      return new Promise((resolve, reject) => {
        const job = {method, params: params || {}, resolve, reject};
        job.timer = setTimeout(() => {
          this._queued = this._queued.filter((q) => q !== job);
          for (const [id, p] of this._pending) if (p === job) this._pending.delete(id);
          reject(new RpcError({code: -32000, message: "Vigie ne répond pas (délai dépassé)"}));
        }, this.options.callTimeout);
        if (this.state === "open") this._send(job); else this._queued.push(job);
      });
    }

    // -- internals ------------------------------------------------------------------------------
    _setState(state, detail) {
      this.state = state;
      this.dispatchEvent(new CustomEvent("state", {detail: Object.assign({state}, detail || {})}));
      if (state === "open") {
        const waiters = this._readyWaiters; this._readyWaiters = [];
        waiters.forEach((w) => w(this));
      }
    }

    _storedToken() {
      if (this.options.token) return this.options.token;
      try { return global.localStorage.getItem(this.options.storageKey); } catch (e) { return null; }
    }

    _storeToken(token) {
      try { global.localStorage.setItem(this.options.storageKey, token); } catch (e) { /* private mode */ }
    }

    _forgetToken() {
      try { global.localStorage.removeItem(this.options.storageKey); } catch (e) { /* private mode */ }
    }

    _open() {
      this._setState("connecting");
      let ws;
      try { ws = new WebSocket(this.url); } catch (e) { this._scheduleReconnect(); return; }
      this._ws = ws;
      ws.onmessage = (msg) => this._onMessage(msg.data);
      ws.onopen = () => this._authenticate();
      ws.onclose = () => {
        this._ws = null;
        for (const [, job] of this._pending) {
          // Session calls die with their socket; the user's calls are re-sent on the next session.
          if (job.internal) job.reject(Object.assign(new RpcError({code: -32000, message: "connexion perdue"}), {lost: true}));
          else this._queued.push(job);
        }
        this._pending.clear();
        if (this.state !== "refused") this._setState("closed");
        if (!this._stopped && this.state !== "refused") this._scheduleReconnect();
      };
    }

    _scheduleReconnect() {
      const delay = this._delay * (0.5 + Math.random() / 2);
      this._delay = Math.min(this._delay * 2, this.options.maxDelay);
      setTimeout(() => { if (!this._stopped && !this._ws) this._open(); }, delay);
    }

    _raw(method, params) {
      const id = this._nextId++;
      return new Promise((resolve, reject) => {
        this._pending.set(id, {resolve, reject, internal: true});
        this._ws.send(JSON.stringify({jsonrpc: "2.0", id, method, params}));
      });
    }

    async _authenticate() {
      const token = this._storedToken();
      try {
        if (token) {
          await this._raw("session.open", {token});
        } else {
          this._setState("pairing");
          const r = await this._raw("pairing.request", {client_name: this.options.clientName});
          this._storeToken(r.token);
        }
      } catch (err) {
        if (err.lost) return; // the socket closed: onclose reconnects
        if (token && !this.options.token) { this._forgetToken(); this._ws && this._ws.close(); return; }
        this._setState("refused", {message: err.message});
        this._stopped = true;
        if (this._ws) this._ws.close();
        return;
      }
      this._delay = this.options.minDelay;
      this._setState("open");
      const queued = this._queued; this._queued = [];
      queued.forEach((job) => this._send(job));
    }

    _send(job) {
      const id = this._nextId++;
      this._pending.set(id, job);
      this._ws.send(JSON.stringify({jsonrpc: "2.0", id, method: job.method, params: job.params}));
    }

    _onMessage(text) {
      let data;
      try { data = JSON.parse(text); } catch (e) { return; }
      if (data.id !== undefined && data.id !== null && this._pending.has(data.id)) {
        const job = this._pending.get(data.id);
        this._pending.delete(data.id);
        if (job.timer) clearTimeout(job.timer);
        if (data.error) job.reject(new RpcError(data.error)); else job.resolve(data.result);
      } else if (data.method) {
        const handlers = this._handlers.get(data.method);
        if (handlers) handlers.forEach((fn) => { try { fn(data.params || {}); } catch (e) { console.error(e); } });
        this.dispatchEvent(new CustomEvent("event", {detail: {method: data.method, params: data.params || {}}}));
      }
    }
  }

  global.Vigie = Object.assign(global.Vigie || {}, {Client, RpcError});
})(typeof window !== "undefined" ? window : globalThis);
