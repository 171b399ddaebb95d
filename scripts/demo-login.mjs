#!/usr/bin/env node
// scripts/demo-login.mjs — the chat demo's application backend: the part of a real application that
// knows who its users are and gives each a token for Encke ([auth] mode = "token").
//
//   POST /login  {"user": "ada"}  →  200 {"user": "ada", "token": "<token>", "expires": <unix s>}
//                                     400 {"error": "..."} for a bad name or body, 413 over 4 KiB
//
// THIS IS A DEMO: there is no password, any well-formed name is accepted. A real application checks
// credentials (its own session cookie, a password, SSO) here before signing anything. What the demo
// does show is the part that matters for Encke: the token is signed with a secret that only this
// backend and Encke know, so the browser cannot make one up or change the user id inside it.
//
// Token format (must match src/auth/token.cpp):
//   p     = base64url(JSON {"sub": user, "exp": unix seconds})       base64url without padding
//   token = p + "." + base64url(HMAC-SHA256(secret, p))
//
// Usage: node scripts/demo-login.mjs [SECRET_FILE]
// Env:   ENCKE_DEMO_SECRET_FILE  the secret file when no argument is given (default run/demo-secret);
//                                its contents are trimmed at the end, as Encke's secret_file is
//        ENCKE_DEMO_LOGIN_LISTEN HOST:PORT (default 127.0.0.1:8081; port 0 picks a free one)
// Prints "demo-login listening on http://HOST:PORT/" once listening. Only node built-ins.

import {createHmac} from "node:crypto";
import fs from "node:fs";
import http from "node:http";

const TTL_SECONDS = 8 * 60 * 60;
const MAX_BODY = 4096;
// Encke's user id rule (valid_user_id in src/auth/token.hpp), shortened to 32 characters for the
// demo's display. Such a name is also a valid channel segment, so /users/<name>/inbox works.
const USER_RE = /^[A-Za-z0-9!#$()+\-.@_~]{1,32}$/;

function fail(message) {
    console.error(`demo-login: ${message}`);
    process.exit(2);
}

function readSecret(file) {
    let text;
    try {
        text = fs.readFileSync(file, "utf8");
    } catch (e) {
        fail(`cannot read the secret file ${file}: ${e.message}`);
    }
    const secret = text.replace(/[ \t\r\n]+$/, "");
    if (Buffer.byteLength(secret) < 16) {
        fail(`the secret in ${file} is shorter than 16 bytes (Encke refuses such a secret too)`);
    }
    return secret;
}

function parseListen(text) {
    const m = /^(.+):(\d{1,5})$/.exec(text);
    if (!m || Number(m[2]) > 65535) {
        fail(`ENCKE_DEMO_LOGIN_LISTEN must be HOST:PORT, got "${text}"`);
    }
    return {host: m[1].replace(/^\[(.*)\]$/, "$1"), port: Number(m[2])};
}

const base64url = (buf) => Buffer.from(buf).toString("base64url");  // no padding

function issueToken(secret, user, expires) {
    const payload = base64url(JSON.stringify({sub: user, exp: expires}));
    return `${payload}.${base64url(createHmac("sha256", secret).update(payload).digest())}`;
}

function send(req, res, status, body) {
    const text = JSON.stringify(body);
    res.writeHead(status, {
        "Content-Type": "application/json; charset=utf-8",
        "Content-Length": Buffer.byteLength(text),
        "Cache-Control": "no-store",
        ...cors(req),
    });
    res.end(text);
}

// The page is served by Encke (another port, so another origin): any origin may call /login. That
// is harmless here because the answer is a token for a name the caller chose anyway; a real login
// endpoint would list its own origins.
function cors(req) {
    const origin = req.headers.origin;
    return origin ? {"Access-Control-Allow-Origin": origin, "Vary": "Origin"} : {};
}

function handle(secret, req, res) {
    const url = new URL(req.url ?? "/", "http://localhost");
    if (url.pathname !== "/login") {
        return send(req, res, 404, {error: "not found: only POST /login is served"});
    }
    if (req.method === "OPTIONS") {
        res.writeHead(204, {
            ...cors(req),
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": "Content-Type",
            "Access-Control-Max-Age": "600",
        });
        return res.end();
    }
    if (req.method !== "POST") {
        res.setHeader("Allow", "POST, OPTIONS");
        return send(req, res, 405, {error: "use POST"});
    }
    if (Number(req.headers["content-length"] ?? 0) > MAX_BODY) {
        res.setHeader("Connection", "close");
        send(req, res, 413, {error: `body larger than ${MAX_BODY} bytes`});
        return req.destroy();
    }
    const chunks = [];
    let size = 0;
    let done = false;
    req.on("data", (chunk) => {
        if (done) {
            return;
        }
        size += chunk.length;
        if (size > MAX_BODY) {
            done = true;
            res.setHeader("Connection", "close");
            send(req, res, 413, {error: `body larger than ${MAX_BODY} bytes`});
            req.destroy();
            return;
        }
        chunks.push(chunk);
    });
    req.on("end", () => {
        if (done) {
            return;
        }
        done = true;
        let body;
        try {
            body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        } catch {
            return send(req, res, 400, {error: "body must be JSON: {\"user\": \"<name>\"}"});
        }
        const user = body?.user;
        if (typeof user !== "string" || !USER_RE.test(user)) {
            return send(req, res, 400, {
                error: "a name is 1-32 characters: letters, digits and !#$()+-.@_~ (no spaces)",
            });
        }
        const expires = Math.floor(Date.now() / 1000) + TTL_SECONDS;
        send(req, res, 200, {user, token: issueToken(secret, user, expires), expires});
    });
    req.on("error", () => {
        done = true;
    });
}

function main() {
    const file = process.argv[2] || process.env.ENCKE_DEMO_SECRET_FILE || "run/demo-secret";
    const secret = readSecret(file);
    const {host, port} = parseListen(process.env.ENCKE_DEMO_LOGIN_LISTEN || "127.0.0.1:8081");
    const server = http.createServer((req, res) => handle(secret, req, res));
    server.requestTimeout = 10000;
    server.headersTimeout = 10000;
    server.on("error", (e) => fail(`cannot listen on ${host}:${port}: ${e.message}`));
    server.listen(port, host, () => {
        const a = server.address();
        const shown = a.family === "IPv6" ? `[${a.address}]` : a.address;
        console.log(`demo-login listening on http://${shown}:${a.port}/`);
    });
    const stop = () => {
        server.close(() => process.exit(0));
        server.closeAllConnections();
        setTimeout(() => process.exit(0), 2000).unref();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
}

main();
