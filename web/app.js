// Encke chat demo: plain ES module on top of the official CometD client (copied into vendor/ by
// scripts/setup.sh from the `cometd` npm package). No framework, no build step.
//
// Channels (room names are restricted to [A-Za-z0-9_-] so they are valid channel segments):
//   /chat/<room>          chat messages   {user, text, id, from, ts}
//   /chat/<room>/members  presence        {type: "join" | "here" | "leave", user, id}
// Presence is client-side only: a joining member announces itself with "join", everyone present
// answers "here", every member repeats "here" as a heartbeat, and a member not heard from for
// EXPIRY_MS is dropped (covers closed laptops and lost "leave" messages).
//
// User-supplied text is only ever written with textContent / setAttribute, never innerHTML.

import {CometD} from "./vendor/cometd/cometd.js";

const TRANSPORTS = ["websocket", "long-polling", "callback-polling"];
const params = new URLSearchParams(location.search);
const HEARTBEAT_MS = clampInt(params.get("heartbeat"), 500, 600000, 10000);
const EXPIRY_MS = Math.round(HEARTBEAT_MS * 2.5);
const MAX_NAME = 32;
const MAX_TEXT = 2000;

const $ = (id) => document.getElementById(id);
const ui = {
    joinPanel: $("join-panel"), joinForm: $("join-form"), joinError: $("join-error"),
    name: $("name"), room: $("room"), transport: $("transport"), join: $("join"),
    chatPanel: $("chat-panel"), roomName: $("room-name"), leave: $("leave"),
    messages: $("messages"), sendForm: $("send-form"), message: $("message"), send: $("send"),
    members: $("members"), memberCount: $("member-count"),
    status: $("status"), transportInUse: $("transport-in-use"), clientId: $("client-id"),
};

// The one active chat session, or null while on the join form.
let session = null;

function clampInt(text, min, max, fallback) {
    const n = Number.parseInt(text ?? "", 10);
    return Number.isFinite(n) ? Math.min(max, Math.max(min, n)) : fallback;
}

function randomId() {
    // crypto.randomUUID() needs a secure context; getRandomValues works on plain http:// too.
    const bytes = crypto.getRandomValues(new Uint8Array(12));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function cleanString(value, max) {
    return typeof value === "string" ? value.trim().slice(0, max) : "";
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

function addSystemLine(text) {
    const li = document.createElement("li");
    li.className = "system";
    li.textContent = text;
    ui.messages.append(li);
    scrollToEnd();
}

function addMessage({user, text, ts, own}) {
    const li = document.createElement("li");
    li.className = own ? "msg own" : "msg";
    li.setAttribute("data-user", user);

    const meta = document.createElement("div");
    meta.className = "meta";
    const who = document.createElement("span");
    who.className = "user";
    who.textContent = user;
    const when = document.createElement("time");
    when.textContent = formatTime(ts);
    meta.append(who, when);

    const body = document.createElement("div");
    body.className = "text";
    body.textContent = text;

    li.append(meta, body);
    ui.messages.append(li);
    scrollToEnd();
}

function renderMembers() {
    const list = [...session.members.values()].sort((a, b) =>
        a.user.localeCompare(b.user, undefined, {sensitivity: "base"}) || a.id.localeCompare(b.id));
    const items = list.map((m) => {
        const li = document.createElement("li");
        li.setAttribute("data-user", m.user);
        const name = document.createElement("span");
        name.className = "name";
        name.textContent = m.user;
        li.append(name);
        if (m.id === session.memberId) {
            const you = document.createElement("span");
            you.className = "you";
            you.textContent = "(you)";
            li.append(you);
        }
        return li;
    });
    ui.members.replaceChildren(...items);
    ui.memberCount.textContent = String(list.length);
}

// ---------------------------------------------------------------- presence

function publishPresence(type) {
    if (!session || session.cometd.isDisconnected()) {
        return;
    }
    session.cometd.publish(session.membersChannel, {type, user: session.user, id: session.memberId});
}

function onPresence(message) {
    const data = message.data ?? {};
    const user = cleanString(data.user, MAX_NAME);
    const type = data.type;
    // Older or foreign clients may send no id: fall back to the name as the key.
    const id = cleanString(data.id, 64) || `name:${user}`;
    if (!session || id === session.memberId) {
        return;
    }
    const known = session.members.get(id);
    if (type === "leave") {
        if (known) {
            session.members.delete(id);
            addSystemLine(`${known.user} left`);
            renderMembers();
        }
        return;
    }
    if ((type !== "join" && type !== "here") || !user) {
        return;
    }
    session.members.set(id, {id, user, lastSeen: Date.now()});
    if (!known || known.user !== user) {
        renderMembers();
    }
    if (type === "join") {
        if (!known) {
            addSystemLine(`${user} joined`);
        }
        // Tell the newcomer we are here.
        publishPresence("here");
    }
}

function expireMembers() {
    const now = Date.now();
    let changed = false;
    for (const [id, m] of session.members) {
        if (id !== session.memberId && now - m.lastSeen > EXPIRY_MS) {
            session.members.delete(id);
            addSystemLine(`${m.user} timed out`);
            changed = true;
        }
    }
    if (changed) {
        renderMembers();
    }
}

// ---------------------------------------------------------------- chat

function onChat(message) {
    const data = message.data ?? {};
    const user = cleanString(data.user, MAX_NAME);
    const text = typeof data.text === "string" ? data.text.slice(0, MAX_TEXT) : "";
    if (!session || !user || !text) {
        return;
    }
    const id = cleanString(data.id, 64);
    if (id) {
        if (session.shown.has(id)) {
            return;
        }
        session.shown.add(id);
    }
    addMessage({user, text, ts: data.ts, own: data.from === session.memberId});
}

function sendMessage(text) {
    const s = session;
    const data = {user: s.user, text, id: randomId(), from: s.memberId, ts: Date.now()};
    s.cometd.publish(s.chatChannel, data, (reply) => {
        if (session !== s) {
            return;
        }
        if (reply.successful) {
            // Shown here as well as on the echo (whichever comes first), so own messages appear
            // even when the server does not deliver a publisher's messages back to it.
            onChat({data});
        } else {
            addSystemLine(`Not delivered: ${reply.error ?? "server refused the message"}`);
        }
    });
}

// ---------------------------------------------------------------- session lifecycle

function subscribeAll(s) {
    s.cometd.batch(() => {
        s.cometd.subscribe(s.chatChannel, onChat, (reply) => {
            if (!reply.successful) {
                setStatus("error", "subscribe failed");
            }
        });
        s.cometd.subscribe(s.membersChannel, onPresence, (reply) => {
            if (reply.successful) {
                publishPresence("join");
            } else {
                setStatus("error", "subscribe failed");
            }
        });
    });
}

function join(user, room, transport) {
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
        memberId: randomId(),
        members: new Map(),
        shown: new Set(),
        connected: false,
        shared: false,
        timers: [],
    };
    s.members.set(s.memberId, {id: s.memberId, user, lastSeen: Date.now()});
    session = s;

    cometd.addListener("/meta/handshake", (reply) => {
        if (session !== s) {
            return;
        }
        showTransportInUse(cometd);
        if (reply.successful) {
            ui.clientId.textContent = cometd.getClientId() ?? "–";
            setStatus("connecting", "handshake ok");
            // A handshake (first or after the session expired) starts with no subscriptions.
            subscribeAll(s);
        } else {
            s.connected = false;
            const why = reply.error ?? reply.failure?.reason ?? "no answer";
            setStatus("error", `handshake failed (${why})`);
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
    ui.messages.replaceChildren();
    renderMembers();
    addSystemLine(`You joined ${room} as ${user}`);
    ui.joinPanel.hidden = true;
    ui.chatPanel.hidden = false;
    ui.message.focus();
    setStatus("connecting", "connecting…");

    cometd.handshake();
}

function leave({unloading = false} = {}) {
    const s = session;
    if (!s) {
        return;
    }
    session = null;
    s.timers.forEach(clearInterval);
    const cometd = s.cometd;
    if (!cometd.isDisconnected()) {
        try {
            cometd.publish(s.membersChannel, {type: "leave", user: s.user, id: s.memberId});
        } catch {
            // Disconnected meanwhile: the others will expire us.
        }
        cometd.disconnect();
    }
    if (unloading) {
        return;
    }
    setStatus("disconnected");
    ui.transportInUse.textContent = "none";
    ui.clientId.textContent = "–";
    ui.chatPanel.hidden = true;
    ui.joinPanel.hidden = false;
    ui.name.focus();
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
    if (/^[A-Za-z0-9_-]+$/.test(room)) {
        ui.room.value = room;
    }
    if (!("WebSocket" in window)) {
        ui.transport.querySelector('option[value="websocket"]').disabled = true;
    }

    ui.joinForm.addEventListener("submit", (event) => {
        event.preventDefault();
        ui.joinError.hidden = true;
        const user = cleanString(ui.name.value, MAX_NAME);
        const roomName = cleanString(ui.room.value, MAX_NAME);
        try {
            if (!user) {
                throw new Error("Please enter a name.");
            }
            if (!/^[A-Za-z0-9_-]+$/.test(roomName)) {
                throw new Error("Room names may contain letters, digits, '-' and '_' only.");
            }
            join(user, roomName, ui.transport.value);
        } catch (e) {
            session = null;
            ui.joinError.textContent = e.message;
            ui.joinError.hidden = false;
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

    ui.leave.addEventListener("click", () => leave());
    window.addEventListener("pagehide", () => leave({unloading: true}));

    // For debugging from the console (and for tests that want to look deeper than the DOM).
    window.enckeChat = {
        get session() {
            return session;
        },
    };
    document.documentElement.dataset.ready = "true";
}

init();
