// Encke live-prices demo: a plain ES module on top of the official CometD client (copied into
// vendor/ by scripts/setup.sh). It subscribes to /prices/* on the server it was loaded from and keeps
// one table row per symbol. Each message's data is a quote:
//
//   channel /prices/EURUSD   data {"symbol":"EURUSD","bid":1.0843,"ask":1.0845,"ts":1732190000000}
//
// (data may also arrive as that JSON in a string; the symbol defaults to the channel's last segment).
//
// Rendering is decoupled from arrival: every message updates the latest quote of its symbol and a
// counter, and the table is redrawn at most once per animation frame. At thousands of updates per
// second the page then shows the newest price of each symbol instead of falling behind.
//
// URL parameters: ?transport=websocket|long-polling|callback-polling (only that one, no fallback),
// ?channel=/prices/* (another channel pattern), ?debug (CometD debug logging).
// Text from the network is only ever written with textContent, never innerHTML.

import {CometD} from "./vendor/cometd/cometd.js";

const TRANSPORTS = ["websocket", "long-polling", "callback-polling"];
const params = new URLSearchParams(location.search);
const CHANNEL = /^\/[A-Za-z0-9_\-/*]+$/.test(params.get("channel") ?? "") ? params.get("channel") : "/prices/*";
const RATE_WINDOW_MS = 1000;     // updates/s is counted over the last second
const MAX_SYMBOLS = 200;         // a runaway feed must not grow the table without bound
const MAX_DECIMALS = 6;

const $ = (id) => document.getElementById(id);
const ui = {
    status: $("status"), statusLine: $("status-line"), transportInUse: $("transport-in-use"),
    rate: $("rate"), rows: $("rows"), empty: $("empty"), channelName: $("channel-name"),
    total: $("total"), symbolCount: $("symbol-count"), ignored: $("ignored"), delay: $("delay"),
};

const state = {
    symbols: new Map(),          // symbol -> row state (see rowFor)
    dirty: new Set(),            // symbols with a quote not yet drawn
    total: 0,
    ignored: 0,
    lastDelayMs: null,
    buckets: new Array(10).fill(0),   // updates per 100 ms slice of the last second
    bucketAt: 0,
    frameRequested: false,
    connected: false,
};

// ---------------------------------------------------------------- status

function setStatus(pillState, pillText, line) {
    ui.status.dataset.state = pillState;
    ui.status.textContent = pillText;
    if (line !== undefined) {
        ui.statusLine.textContent = line;
    }
}

function showTransportInUse(cometd) {
    const transport = cometd.getTransport();
    ui.transportInUse.textContent = transport ? transport.type : "none";
}

// ---------------------------------------------------------------- quotes

function decimalsOf(x) {
    const s = String(x);
    if (/e/i.test(s)) {
        return MAX_DECIMALS;
    }
    const dot = s.indexOf(".");
    return dot < 0 ? 0 : Math.min(MAX_DECIMALS, s.length - dot - 1);
}

/** A quote from a message, or null if it is not one. */
function parseQuote(message) {
    let data = message.data;
    if (typeof data === "string") {
        try {
            data = JSON.parse(data);
        } catch {
            return null;
        }
    }
    if (!data || typeof data !== "object") {
        return null;
    }
    const fromChannel = String(message.channel ?? "").split("/").pop();
    const symbol = typeof data.symbol === "string" && data.symbol ? data.symbol : fromChannel;
    const bid = Number(data.bid);
    const ask = Number(data.ask);
    if (!symbol || symbol.length > 32 || !Number.isFinite(bid) || !Number.isFinite(ask)) {
        return null;
    }
    const ts = Number.isFinite(Number(data.ts)) && Number(data.ts) > 0 ? Number(data.ts) : null;
    return {symbol, bid, ask, ts, decimals: Math.max(decimalsOf(data.bid), decimalsOf(data.ask))};
}

function countUpdate(now) {
    advanceBuckets(now);
    state.buckets[state.buckets.length - 1]++;
}

// Slide the one-second window forward to `now` (100 ms slices).
function advanceBuckets(now) {
    const slice = RATE_WINDOW_MS / state.buckets.length;
    const current = Math.floor(now / slice);
    const shift = Math.min(state.buckets.length, current - state.bucketAt);
    if (shift > 0) {
        state.buckets.splice(0, shift);
        state.buckets.push(...new Array(shift).fill(0));
        state.bucketAt = current;
    }
}

function onQuoteMessage(message) {
    const now = Date.now();
    const quote = parseQuote(message);
    state.total++;
    if (!quote) {
        state.ignored++;
        requestFrame();
        return;
    }
    countUpdate(now);
    let row = state.symbols.get(quote.symbol);
    if (!row) {
        if (state.symbols.size >= MAX_SYMBOLS) {
            state.ignored++;
            return;
        }
        row = rowFor(quote.symbol);
    }
    row.latest = quote;
    row.receivedAt = now;
    row.updates++;
    if (quote.ts !== null) {
        state.lastDelayMs = now - quote.ts;
    }
    state.dirty.add(quote.symbol);
    requestFrame();
}

// ---------------------------------------------------------------- rendering

function cell(tr, className) {
    const td = document.createElement("td");
    td.className = className;
    tr.append(td);
    return td;
}

/** Create the row of a new symbol, keeping the table sorted by symbol. */
function rowFor(symbol) {
    const tr = document.createElement("tr");
    tr.dataset.symbol = symbol;
    const row = {
        tr,
        symbolCell: cell(tr, "symbol"),
        bidCell: cell(tr, "num bid"),
        askCell: cell(tr, "num ask"),
        spreadCell: cell(tr, "num spread"),
        changeCell: cell(tr, "num change"),
        arrow: document.createElement("span"),
        pct: document.createElement("span"),
        timeCell: cell(tr, "num time"),
        updatesCell: cell(tr, "num updates optional"),
        latest: null,
        shown: null,         // the quote on screen
        first: null,         // the first quote seen: "change" is measured from it
        decimals: 0,
        updates: 0,
        receivedAt: 0,
    };
    row.symbolCell.textContent = symbol;
    row.arrow.className = "arrow";
    row.changeCell.append(row.arrow, row.pct);
    state.symbols.set(symbol, row);
    const next = [...ui.rows.children].find((other) => other.dataset.symbol > symbol);
    ui.rows.insertBefore(tr, next ?? null);
    return row;
}

function flash(td, direction) {
    td.classList.remove("tick-up", "tick-down");
    if (direction) {
        void td.offsetWidth;  // restart the CSS animation when the same direction repeats
        td.classList.add(direction > 0 ? "tick-up" : "tick-down");
    }
}

// FX convention: a pip is 0.01 for yen pairs and prices quoted in the tens or more, else 0.0001.
function pipSize(symbol, price) {
    return /JPY$/.test(symbol) || price >= 20 ? 0.01 : 0.0001;
}

function formatTime(ms) {
    const d = new Date(ms);
    const pad = (n, w = 2) => String(n).padStart(w, "0");
    return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

function drawRow(symbol) {
    const row = state.symbols.get(symbol);
    const q = row.latest;
    const prev = row.shown;
    row.first ??= q;
    // Keep the column width steady: trailing zeros are lost in JSON numbers (1.0840 -> 1.084).
    row.decimals = Math.max(row.decimals, q.decimals);

    row.bidCell.textContent = q.bid.toFixed(row.decimals);
    row.askCell.textContent = q.ask.toFixed(row.decimals);
    row.spreadCell.textContent = ((q.ask - q.bid) / pipSize(symbol, q.bid)).toFixed(1);

    // The arrow is the last tick's direction; the percentage is the move since the page opened.
    if (prev !== null && q.bid !== prev.bid) {
        row.arrow.textContent = q.bid > prev.bid ? "▲" : "▼";
        row.arrow.dataset.sign = q.bid > prev.bid ? "up" : "down";
    }
    const change = q.bid - row.first.bid;
    const pct = row.first.bid !== 0 ? (change / row.first.bid) * 100 : 0;
    row.pct.textContent = `${change >= 0 ? "+" : "−"}${Math.abs(pct).toFixed(3)}%`;
    row.pct.dataset.sign = change > 0 ? "up" : change < 0 ? "down" : "flat";

    row.timeCell.textContent = formatTime(q.ts ?? row.receivedAt);
    row.updatesCell.textContent = String(row.updates);

    if (prev !== null) {
        flash(row.bidCell, Math.sign(q.bid - prev.bid));
        flash(row.askCell, Math.sign(q.ask - prev.ask));
    }
    row.shown = q;
}

function drawStats() {
    advanceBuckets(Date.now());
    ui.rate.textContent = String(state.buckets.reduce((a, b) => a + b, 0));
    ui.total.textContent = String(state.total);
    ui.ignored.textContent = String(state.ignored);
    ui.symbolCount.textContent = String(state.symbols.size);
    ui.delay.textContent = state.lastDelayMs === null ? "–" : `${Math.max(0, state.lastDelayMs)} ms`;
    ui.empty.hidden = state.symbols.size > 0;
}

function requestFrame() {
    if (state.frameRequested) {
        return;
    }
    state.frameRequested = true;
    requestAnimationFrame(() => {
        state.frameRequested = false;
        for (const symbol of state.dirty) {
            drawRow(symbol);
        }
        state.dirty.clear();
        drawStats();
    });
}

// ---------------------------------------------------------------- CometD

function start() {
    const cometd = new CometD();
    const wanted = params.get("transport");
    if (TRANSPORTS.includes(wanted)) {
        // Only the transport asked for, so that the page shows what was asked (no silent fallback).
        for (const type of cometd.getTransportTypes()) {
            if (type !== wanted) {
                cometd.unregisterTransport(type);
            }
        }
    }
    const url = `${location.origin}/cometd`;
    cometd.configure({url, logLevel: params.has("debug") ? "debug" : "warn"});
    ui.channelName.textContent = CHANNEL;

    let subscription = null;
    cometd.addListener("/meta/handshake", (reply) => {
        showTransportInUse(cometd);
        if (reply.successful) {
            // A (re-)handshake starts with no subscriptions: the client cleared them, so ask again.
            setStatus("connecting", "handshake ok", `Handshake with ${url} done; subscribing to ${CHANNEL}…`);
            subscription = cometd.subscribe(CHANNEL, onQuoteMessage, (sub) => {
                if (!sub.successful) {
                    setStatus("error", "subscribe failed", `Subscribing to ${CHANNEL} failed: ${sub.error ?? "unknown error"}`);
                } else if (state.connected) {
                    showConnected(cometd);
                }
            });
        } else {
            state.connected = false;
            const why = reply.error ?? reply.failure?.reason ?? "no answer";
            setStatus("error", "handshake failed", `Handshake with ${url} failed (${why}); retrying…`);
        }
    });
    cometd.addListener("/meta/connect", (reply) => {
        if (cometd.isDisconnected()) {
            return;
        }
        showTransportInUse(cometd);
        if (reply.successful) {
            if (!state.connected) {
                state.connected = true;
                showConnected(cometd);
            }
        } else if (state.connected || ui.status.dataset.state !== "broken") {
            state.connected = false;
            setStatus("broken", "reconnecting…", `Connection to ${url} lost; reconnecting…`);
        }
    });
    cometd.addListener("/meta/disconnect", () => {
        state.connected = false;
        setStatus("disconnected", "disconnected", "Disconnected.");
    });

    // Keep updates/s falling to 0 when the feed stops, even with no message to trigger a frame.
    setInterval(requestFrame, 250);
    addEventListener("pagehide", () => {
        if (subscription) {
            cometd.unsubscribe(subscription);
        }
        cometd.disconnect();
    });

    setStatus("connecting", "connecting", `Connecting to ${url}…`);
    cometd.handshake();
}

function showConnected(cometd) {
    const transport = cometd.getTransport();
    setStatus("connected", "connected",
        `Connected to ${location.origin}/cometd over ${transport ? transport.type : "?"}, subscribed to ${CHANNEL}.`);
}

function startSafely() {
    try {
        start();
    } catch (e) {
        setStatus("error", "error", `Cannot start: ${e.message}`);
    }
}

// Start after the load event: over callback-polling every request is a <script> element, and one
// added before "load" (the held /meta/connect) would keep the page loading for as long as the
// server holds it.
if (document.readyState === "complete") {
    startSafely();
} else {
    addEventListener("load", startSafely, {once: true});
}
