// Encke chat demo: plain ES module on top of the official CometD client (copied into vendor/ by
// scripts/setup.sh from the `cometd` npm package). No framework, no build step.
//
// Sign-in: the form POSTs {"user": name} to the demo's login backend (scripts/demo-login.mjs; it
// accepts any name, it is a demo) and gets a token signed with the secret it shares with Encke. The
// handshake carries it as ext {"token": ...}; Encke refuses a missing, forged or expired token
// (403::token_missing / 403::token_invalid / 403::token_expired) and the page shows that error.
// The login URL is http://<this page's host>:8081/login unless ?login=<url> says otherwise.
//
// Identity: every message a signed-in session publishes reaches its subscribers with ext.user set
// BY THE SERVER to the publisher's user id (a client's own ext.user is removed). So the page takes
// every name it shows from message.ext.user and never from data: nobody can speak, appear in the
// member list or send a private message under someone else's name.
//
// Channels (examples/chat/encke.toml holds the rules; room names are [A-Za-z0-9_-]):
//   /chat/<room>          chat messages        data {text, id, from, ts}
//   /chat/<room>/members  presence heartbeats  data {type: "join" | "here" | "leave", id}
//   /users/<name>/inbox   <name>'s private messages, data {text, id, ts}: anyone signed in may
//                         publish, only <name> may subscribe (the page's "security check" shows
//                         the refusal anyone else gets)
// Presence is client-side: a joining member announces itself with "join", everyone present answers
// "here", every member repeats "here" as a heartbeat, and a member not heard from for EXPIRY_MS is
// dropped (covers closed laptops and lost "leave" messages). An entry is keyed by the server's
// ext.user plus the tab's random id, so one user cannot remove or rename another's entry.
//
// User-supplied text is only ever written with textContent / setAttribute, never innerHTML.
// window.enckeDemo exposes the session and its CometD object for the console and for the tests.

import {CometD} from "./vendor/cometd/cometd.js";

const TRANSPORTS = ["websocket", "long-polling", "callback-polling"];
const params = new URLSearchParams(location.search);
const HEARTBEAT_MS = clampInt(params.get("heartbeat"), 500, 600000, 10000);
const EXPIRY_MS = Math.round(HEARTBEAT_MS * 2.5);
const LOGIN_TIMEOUT_MS = 10000;
const MAX_NAME = 32;
const MAX_TEXT = 2000;
// Encke's user id rule (at most 128 characters there; the demo's login backend allows 32).
const USER_RE = /^[A-Za-z0-9!#$()+\-.@_~]{1,128}$/;
const ROOM_RE = /^[A-Za-z0-9_-]+$/;
const LOGIN_URL = loginUrl(params.get("login"));

const $ = (id) => document.getElementById(id);
const ui = {
    joinPanel: $("join-panel"), joinForm: $("join-form"), joinError: $("join-error"),
    name: $("name"), room: $("room"), transport: $("transport"), join: $("join"), loginUrl: $("login-url"),
    chatPanel: $("chat-panel"), roomName: $("room-name"), me: $("me"), leave: $("leave"),
    messages: $("messages"), sendForm: $("send-form"), message: $("message"), send: $("send"),
    target: $("composer-target"), targetLabel: $("target-label"), toRoom: $("to-room"),
    members: $("members"), memberCount: $("member-count"),
    probeForm: $("probe-form"), probeUser: $("probe-user"), probeResult: $("probe-result"),
    status: $("status"), transportInUse: $("transport-in-use"), headerUser: $("header-user"),
};

// The one active chat session, or null while on the sign-in form.
let session = null;
// Bumped by every sign-in attempt, so that a late login answer for an abandoned attempt is ignored.
let attempt = 0;

function clampInt(text, min, max, fallback) {
    const n = Number.parseInt(text ?? "", 10);
    return Number.isFinite(n) ? Math.min(max, Math.max(min, n)) : fallback;
}

function loginUrl(given) {
    if (given) {
        try {
            const url = new URL(given, location.href);
            if (url.protocol === "http:" || url.protocol === "https:") {
                return url.href;
            }
        } catch {
            // Not a URL: use the default.
        }
    }
    // location.hostname keeps the brackets of an IPv6 address.
    return `http://${location.hostname}:8081/login`;
}

function randomId() {
    // crypto.randomUUID() needs a secure context; getRandomValues works on plain http:// too.
    const bytes = crypto.getRandomValues(new Uint8Array(12));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function cleanString(value, max) {
    return typeof value === "string" ? value.trim().slice(0, max) : "";
}

// The sender of a delivered message, as the server wrote it; "" when absent or not a user id.
function senderOf(message) {
    const user = message?.ext?.user;
    return typeof user === "string" && USER_RE.test(user) ? user : "";
}

function inboxOf(user) {
    return `/users/${user}/inbox`;
}

function setStatus(state, text) {
    ui.status.dataset.state = state;
    ui.status.textContent = text ?? state;
}

function showTransportInUse(cometd) {
    const transport = cometd.getTransport();
    ui.transportInUse.textContent = transport ? transport.type : "none";
}

// ---------------------------------------------------------------- rendering

function formatTime(ts) {
    const d = Number.isFinite(ts) ? new Date(ts) : new Date();
    return d.toLocaleTimeString([], {hour: "2-digit", minute: "2-digit", second: "2-digit"});
}

function scrollToEnd() {
    ui.messages.scrollTop = ui.messages.scrollHeight;
}

function addSystemLine(text, kind = "") {
    const li = document.createElement("li");
    li.className = kind ? `system ${kind}` : "system";
    li.textContent = text;
    ui.messages.append(li);
    scrollToEnd();
}

// privateTo: a private message this page sent; privateFrom: one it received.
function addMessage({user, text, ts, own, privateTo = "", privateFrom = ""}) {
    const li = document.createElement("li");
    li.className = "msg" + (own ? " own" : "") + (privateTo || privateFrom ? " private" : "");
    li.setAttribute("data-user", user);
    if (privateTo) {
        li.setAttribute("data-to", privateTo);
    }

    const meta = document.createElement("div");
    meta.className = "meta";
    const who = document.createElement("span");
    who.className = "user";
    who.textContent = user;
    meta.append(who);
    if (privateTo || privateFrom) {
        const label = document.createElement("span");
        label.className = "private-label";
        // The sender's name is already shown just before: a received one just says it is private.
        label.textContent = privateTo ? `private to ${privateTo}` : "private, to you";
        meta.append(label);
    }
    const when = document.createElement("time");
    when.textContent = formatTime(ts);
    meta.append(when);

    const body = document.createElement("div");
    body.className = "text";
    body.textContent = text;

    li.append(meta, body);
    ui.messages.append(li);
    scrollToEnd();
}

// One row per user (a user may have several tabs in the room, each its own presence entry).
function renderMembers() {
    const users = new Set();
    for (const m of session.members.values()) {
        users.add(m.user);
    }
    const list = [...users].sort((a, b) =>
        a.localeCompare(b, undefined, {sensitivity: "base"}) || (a < b ? -1 : 1));
    const items = list.map((user) => {
        const li = document.createElement("li");
        li.setAttribute("data-user", user);
        const name = document.createElement("span");
        name.className = "name";
        name.textContent = user;
        li.append(name);
        if (user === session.user) {
            const you = document.createElement("span");
            you.className = "you";
            you.textContent = "(you)";
            li.append(you);
        } else {
            const pm = document.createElement("button");
            pm.type = "button";
            pm.className = "pm link";
            pm.textContent = "private message";
            pm.setAttribute("aria-label", `Private message to ${user}`);
            pm.addEventListener("click", () => setTarget(user));
            li.append(pm);
        }
        return li;
    });
    ui.members.replaceChildren(...items);
    ui.memberCount.textContent = String(list.length);
    // The security check suggests someone else in the room.
    const other = list.find((u) => u !== session.user);
    ui.probeUser.placeholder = other ?? "name";
    ui.probeUser.dataset.suggest = other ?? "";
}

// Where the composer sends: the room (null) or one user's inbox.
function setTarget(user) {
    if (!session) {
        return;
    }
    session.target = user && user !== session.user ? user : null;
    const to = session.target;
    ui.target.dataset.mode = to ? "private" : "room";
    ui.targetLabel.textContent = to ? `Private message to ${to}` : `To everyone in ${session.room}`;
    ui.toRoom.hidden = !to;
    ui.message.placeholder = to ? `Private message to ${to}…` : "Write a message…";
    ui.message.focus();
}

// ---------------------------------------------------------------- presence

function publishPresence(type) {
    if (!session || session.cometd.isDisconnected()) {
        return;
    }
    session.cometd.publish(session.membersChannel, {type, id: session.memberId});
}

function userLeft(user) {
    for (const m of session.members.values()) {
        if (m.user === user) {
            return false;
        }
    }
    return true;
}

function onPresence(message) {
    const s = session;
    const user = senderOf(message);
    const data = message.data ?? {};
    const type = data.type;
    const id = cleanString(data.id, 64) || "-";
    if (!s || !user || (user === s.user && id === s.memberId)) {
        return;
    }
    const key = `${user}\n${id}`;
    const known = s.members.get(key);
    if (type === "leave") {
        if (known) {
            s.members.delete(key);
            if (userLeft(user)) {
                addSystemLine(`${user} left`);
            }
            renderMembers();
        }
        return;
    }
    if (type !== "join" && type !== "here") {
        return;
    }
    const isNew = userLeft(user);
    s.members.set(key, {user, lastSeen: Date.now()});
    if (!known) {
        renderMembers();
    }
    if (type === "join") {
        if (isNew && user !== s.user) {
            addSystemLine(`${user} joined`);
        }
        // Tell the newcomer we are here.
        publishPresence("here");
    }
}

function expireMembers() {
    const s = session;
    const now = Date.now();
    let changed = false;
    for (const [key, m] of s.members) {
        if (key !== s.ownKey && now - m.lastSeen > EXPIRY_MS) {
            s.members.delete(key);
            if (userLeft(m.user)) {
                addSystemLine(`${m.user} timed out`);
            }
            changed = true;
        }
    }
    if (changed) {
        renderMembers();
    }
}

// ---------------------------------------------------------------- chat and private messages

// True the first time a (sender, message id) pair is seen. Keyed by sender too, so that nobody can
// hide someone else's message by sending one with the same id first.
function firstSight(user, data) {
    const id = cleanString(data.id, 64);
    if (!id) {
        return true;
    }
    const key = `${user}\n${id}`;
    if (session.shown.has(key)) {
        return false;
    }
    session.shown.add(key);
    return true;
}

function textOf(data) {
    return typeof data.text === "string" ? data.text.slice(0, MAX_TEXT) : "";
}

function onChat(message) {
    const s = session;
    const user = senderOf(message);
    const data = message.data ?? {};
    const text = textOf(data);
    if (s && !user && text && !message.ext?.user) {
        // No ext.user at all: the application's backend published it (POST /api/publish or
        // `encke publish --key`), since every signed-in session's messages carry one.
        addSystemLine(`from the server: ${text}`, "server");
        return;
    }
    if (!s || !user || !text || !firstSight(user, data)) {
        return;
    }
    addMessage({user, text, ts: data.ts, own: user === s.user});
}

function onInbox(message) {
    const s = session;
    const user = senderOf(message);
    const data = message.data ?? {};
    const text = textOf(data);
    if (!s || !user || !text || !firstSight(user, data)) {
        return;
    }
    addMessage({user, text, ts: data.ts, own: false, privateFrom: user});
}

function sendMessage(text) {
    const s = session;
    const to = s.target;
    const data = {text, id: randomId(), ts: Date.now()};
    if (!to) {
        data.from = s.memberId;
    }
    s.cometd.publish(to ? inboxOf(to) : s.chatChannel, data, (reply) => {
        if (session !== s) {
            return;
        }
        if (!reply.successful) {
            const why = reply.error ?? "server refused the message";
            addSystemLine(`Not delivered${to ? ` to ${to}` : ""}: ${why}`, "warn");
        } else if (to) {
            // A private message does not come back (only its recipient may read that inbox).
            addMessage({user: s.user, text, ts: data.ts, own: true, privateTo: to});
        } else if (firstSight(s.user, data)) {
            // Shown here as well as on the echo (whichever comes first), so own messages appear
            // even when the server does not deliver a publisher's messages back to it.
            addMessage({user: s.user, text, ts: data.ts, own: true});
        }
    });
}

// ---------------------------------------------------------------- security check

// Subscribes to another user's inbox, which the channel rules refuse ("403::subscribe_denied"),
// and shows the server's answer. Were it ever allowed, the page says so loudly and unsubscribes.
function probeInbox(user) {
    const s = session;
    if (!s || s.cometd.isDisconnected() || s.probing) {
        return;
    }
    const channel = inboxOf(user);
    const show = (outcome, text) => {
        ui.probeResult.dataset.outcome = outcome;
        ui.probeResult.textContent = text;
    };
    s.probing = true;
    show("pending", `Subscribing to ${channel}…`);
    let handle = null;
    const done = (reply) => {
        if (session !== s) {
            return;
        }
        s.probing = false;
        if (!reply.successful) {
            const why = reply.error ?? reply.failure?.reason ?? "no answer";
            show("refused", `Refused: ${why}. ${s.user} cannot read ${channel}.`);
        } else if (user === s.user) {
            show("allowed", `Allowed: ${channel} is your own inbox.`);
            s.cometd.unsubscribe(handle);
        } else {
            show("allowed", `ALLOWED: ${s.user} could read ${channel}. The channel rules are open!`);
            s.cometd.unsubscribe(handle);
        }
    };
    handle = s.cometd.subscribe(channel, () => {}, done);
}

// ---------------------------------------------------------------- sign-in and session lifecycle

async function login(user) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), LOGIN_TIMEOUT_MS);
    let response;
    try {
        response = await fetch(LOGIN_URL, {
            method: "POST",
            headers: {"Content-Type": "application/json"},
            body: JSON.stringify({user}),
            signal: controller.signal,
        });
    } catch (e) {
        const why = e.name === "AbortError" ? "timeout" : e.message;
        throw new Error(`The login backend at ${LOGIN_URL} did not answer (${why}). ` +
            "Is scripts/demo-login.mjs running?");
    } finally {
        clearTimeout(timer);
    }
    let body = null;
    try {
        body = await response.json();
    } catch {
        // Not JSON: reported below by status.
    }
    if (!response.ok) {
        throw new Error(`Sign-in refused: ${cleanString(body?.error, 200) || `HTTP ${response.status}`}`);
    }
    if (typeof body?.token !== "string" || typeof body?.user !== "string" || !USER_RE.test(body.user)) {
        throw new Error("The login backend answered without a user and token.");
    }
    return body;
}

function showJoinError(text) {
    ui.joinError.textContent = text;
    ui.joinError.hidden = false;
}

function showJoinForm() {
    setStatus("disconnected");
    ui.transportInUse.textContent = "none";
    ui.headerUser.textContent = "–";
    ui.chatPanel.hidden = true;
    ui.joinPanel.hidden = false;
    ui.join.disabled = false;
    ui.name.focus();
}

function subscribeAll(s) {
    s.cometd.batch(() => {
        s.cometd.subscribe(s.chatChannel, onChat, (reply) => {
            if (!reply.successful) {
                setStatus("error", `subscribe failed (${reply.error ?? "no answer"})`);
            }
        });
        s.cometd.subscribe(s.inboxChannel, onInbox, (reply) => {
            if (!reply.successful) {
                setStatus("error", `inbox subscribe failed (${reply.error ?? "no answer"})`);
            }
        });
        s.cometd.subscribe(s.membersChannel, onPresence, (reply) => {
            if (reply.successful) {
                publishPresence("join");
            } else {
                setStatus("error", `subscribe failed (${reply.error ?? "no answer"})`);
            }
        });
    });
}

function join({user, token, expires}, room, transport) {
    const cometd = new CometD();
    // Keep only the chosen transport, so what the page shows is what was asked for (no fallback).
    for (const type of cometd.getTransportTypes()) {
        if (type !== transport) {
            cometd.unregisterTransport(type);
        }
    }
    if (!cometd.getTransportTypes().includes(transport)) {
        throw new Error(`Transport ${transport} is not available in this browser`);
    }
    cometd.configure({
        url: `${location.origin}/cometd`,
        logLevel: params.has("debug") ? "debug" : "warn",
    });

    const s = {
        cometd, user, room, transport,
        chatChannel: `/chat/${room}`,
        membersChannel: `/chat/${room}/members`,
        inboxChannel: inboxOf(user),
        memberId: randomId(),
        members: new Map(),
        shown: new Set(),
        target: null,
        connected: false,
        shared: false,
        probing: false,
        timers: [],
    };
    s.ownKey = `${user}\n${s.memberId}`;
    s.members.set(s.ownKey, {user, lastSeen: Date.now()});
    session = s;

    cometd.addListener("/meta/handshake", (reply) => {
        if (session !== s) {
            return;
        }
        showTransportInUse(cometd);
        if (reply.successful) {
            // Not the clientId: whoever has it can use the session (docs/security.md), so the
            // page never shows it.
            ui.headerUser.textContent = user;
            setStatus("connecting", "handshake ok");
            // A handshake (first or after the session expired) starts with no subscriptions.
            subscribeAll(s);
            return;
        }
        s.connected = false;
        const why = reply.error ?? reply.failure?.reason ?? "no answer";
        if ((typeof reply.error === "string" && reply.error.startsWith("403:")) ||
            reply.advice?.reconnect === "none") {
            // Refused (a bad or expired token): the server advises not to retry. Back to the form.
            leave({silent: true});
            showJoinForm();
            showJoinError(`Encke refused the handshake: ${why}` +
                (why.endsWith("token_expired") ? " (sign in again for a fresh token)" : ""));
            setStatus("error", `handshake refused (${why})`);
        } else {
            setStatus("error", `handshake failed (${why}), retrying…`);
        }
    });
    cometd.addListener("/meta/connect", (reply) => {
        if (session !== s || cometd.isDisconnected()) {
            return;
        }
        showTransportInUse(cometd);
        if (reply.successful) {
            // Over HTTP the server holds one long poll per browser; other tabs of the same browser
            // get {"multiple-clients": true} and poll at advice.interval instead.
            const shared = reply.advice?.["multiple-clients"] === true;
            if (shared) {
                ui.status.dataset.multipleClients = "true";
            }
            if (!s.connected || shared !== s.shared) {
                s.connected = true;
                s.shared = shared;
                setStatus("connected", shared ? "connected (polling: shared browser)" : "connected");
                ui.status.title = shared
                    ? `Another tab of this browser holds the long poll; this one polls every ${reply.advice.interval ?? "?"} ms`
                    : "";
            }
        } else if (s.connected || ui.status.dataset.state !== "broken") {
            s.connected = false;
            setStatus("broken", "reconnecting…");
        }
    });
    cometd.addListener("/meta/disconnect", () => {
        if (session === s) {
            s.connected = false;
            setStatus("disconnected");
        }
    });

    s.timers.push(setInterval(() => {
        if (s.connected) {
            publishPresence("here");
        }
    }, HEARTBEAT_MS));
    s.timers.push(setInterval(expireMembers, Math.min(HEARTBEAT_MS, 5000)));

    delete ui.status.dataset.multipleClients;
    ui.status.title = "";
    ui.roomName.textContent = room;
    ui.me.textContent = user;
    ui.me.title = Number.isFinite(expires) ? `token valid until ${new Date(expires * 1000).toLocaleString()}` : "";
    ui.probeUser.value = "";
    ui.probeResult.textContent = "";
    delete ui.probeResult.dataset.outcome;
    ui.messages.replaceChildren();
    setTarget(null);
    renderMembers();
    addSystemLine(`Signed in as ${user}; you joined ${room}`);
    ui.joinPanel.hidden = true;
    ui.chatPanel.hidden = false;
    ui.message.focus();
    setStatus("connecting", "connecting…");

    cometd.handshake({ext: {token}});
}

// silent: the session is over already (a refused handshake), so no "leave" is announced.
function leave({unloading = false, silent = false} = {}) {
    const s = session;
    if (!s) {
        return;
    }
    session = null;
    s.timers.forEach(clearInterval);
    const cometd = s.cometd;
    if (!cometd.isDisconnected()) {
        if (!silent) {
            try {
                cometd.publish(s.membersChannel, {type: "leave", id: s.memberId});
            } catch {
                // Disconnected meanwhile: the others will expire us.
            }
        }
        cometd.disconnect();
    }
    if (!unloading && !silent) {
        showJoinForm();
    }
}

// ---------------------------------------------------------------- wiring

function init() {
    const wanted = params.get("transport");
    if (TRANSPORTS.includes(wanted)) {
        ui.transport.value = wanted;
    }
    const name = cleanString(params.get("name"), MAX_NAME);
    if (name) {
        ui.name.value = name;
    }
    const room = cleanString(params.get("room"), MAX_NAME);
    if (ROOM_RE.test(room)) {
        ui.room.value = room;
    }
    if (!("WebSocket" in window)) {
        ui.transport.querySelector('option[value="websocket"]').disabled = true;
    }
    ui.loginUrl.textContent = LOGIN_URL;

    ui.joinForm.addEventListener("submit", async (event) => {
        event.preventDefault();
        ui.joinError.hidden = true;
        const user = cleanString(ui.name.value, MAX_NAME);
        const roomName = cleanString(ui.room.value, MAX_NAME);
        const transport = ui.transport.value;
        const mine = ++attempt;
        try {
            if (!user) {
                throw new Error("Please enter a name.");
            }
            if (!USER_RE.test(user)) {
                throw new Error("A name may contain letters, digits and !#$()+-.@_~ only (no spaces).");
            }
            if (!ROOM_RE.test(roomName)) {
                throw new Error("Room names may contain letters, digits, '-' and '_' only.");
            }
            ui.join.disabled = true;
            setStatus("connecting", "signing in…");
            const credentials = await login(user);
            if (mine !== attempt || session) {
                return;
            }
            join(credentials, roomName, transport);
        } catch (e) {
            if (mine !== attempt) {
                return;
            }
            session = null;
            setStatus("error", "not signed in");
            showJoinError(e.message);
        } finally {
            if (mine === attempt) {
                ui.join.disabled = false;
            }
        }
    });

    ui.sendForm.addEventListener("submit", (event) => {
        event.preventDefault();
        const text = ui.message.value.trim();
        if (!session || !text || session.cometd.isDisconnected()) {
            return;
        }
        sendMessage(text.slice(0, MAX_TEXT));
        ui.message.value = "";
        ui.message.focus();
    });

    ui.toRoom.addEventListener("click", () => setTarget(null));

    ui.probeForm.addEventListener("submit", (event) => {
        event.preventDefault();
        const typed = cleanString(ui.probeUser.value, 128) || ui.probeUser.dataset.suggest || "";
        if (!USER_RE.test(typed)) {
            ui.probeResult.dataset.outcome = "error";
            ui.probeResult.textContent = "Enter a member's name.";
            return;
        }
        probeInbox(typed);
    });

    ui.leave.addEventListener("click", () => leave());
    window.addEventListener("pagehide", () => leave({unloading: true}));

    // For the console and for tests that look deeper than the DOM (e.g. publish with a forged
    // ext.user through the page's own CometD object, to see the server replace it).
    window.enckeDemo = {
        get session() {
            return session;
        },
        get cometd() {
            return session?.cometd ?? null;
        },
        get user() {
            return session?.user ?? null;
        },
        loginUrl: LOGIN_URL,
    };
    document.documentElement.dataset.ready = "true";
}

init();
