// Browser test of the chat demo (web/) against a real Encke binary and the demo's real login
// backend (scripts/demo-login.mjs), driven through Debian's Chromium with playwright-core (recipe:
// SERVICES.md §7). Encke runs with examples/chat/encke.toml (token auth, channel rules), changed
// only to use a secret file of the test's own in a temporary folder.
//
// For each transport: two users sign in through the page and join the same room, exchange messages
// both ways, see each other in the member list (names from the server's ext.user), see the
// transport they asked for in use, and the second user's "leave" reaches the first. Done twice: as
// two browsers (separate cookie jars) and as two tabs of one browser (shared BAYEUX_BROWSER cookie,
// so the server's one-long-poll-per-browser rule is in play). Over websocket and long-polling, the
// two-browser run adds private messages and a third user, carol, who must see none of them: her
// security check on alice's inbox is refused with 403::subscribe_denied, a wildcard subscription to
// /** brings her nothing from /users/**, and a message she sends with ext.user forged to "alice"
// arrives showing "carol". Also: a token signed with another secret is refused at the handshake and
// the page shows 403::token_invalid; the login backend's HTTP contract. One screenshot per page goes
// to test-artifacts/.
//
// Env: ENCKE_BIN (default build/release/encke), CHROMIUM (default /usr/bin/chromium),
//      ENCKE_TEST_WAIT_MS (default 15000, the bound of every single wait),
//      ENCKE_TEST_VERBOSE=1 (print the pages' console errors and failed requests even on success).

import {describe, test, before, after} from "node:test";
import assert from "node:assert/strict";
import {spawn} from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {fileURLToPath} from "node:url";
import {chromium} from "playwright-core";
import {createHmac, randomBytes} from "node:crypto";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const BIN = path.resolve(ROOT, process.env.ENCKE_BIN || "build/release/encke");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const WEB_ROOT = path.join(ROOT, "web");
const ARTIFACTS = path.join(ROOT, "test-artifacts");
const WAIT = Number(process.env.ENCKE_TEST_WAIT_MS || 15000);
const TRANSPORTS = ["websocket", "long-polling", "callback-polling"];
const DEMO_CONFIG = path.join(ROOT, "examples", "chat", "encke.toml");
const API_KEY = "browser-test-api-key-0123456789";
const LOGIN_SCRIPT = path.join(ROOT, "scripts", "demo-login.mjs");
// Transports whose two-browser run adds private messages and the third user.
const PRIVATE_TRANSPORTS = ["websocket", "long-polling"];

// ---------------------------------------------------------------- processes

// Starts a child and resolves `ready` with the URL its "listening on http://HOST:PORT/" line names.
function startProcess(what, command, args, env = {}) {
    const child = spawn(command, args, {
        cwd: ROOT,
        env: {...process.env, ...env},
        stdio: ["ignore", "pipe", "pipe"],
    });
    const proc = {what, child, stdout: "", stderr: "", exit: null, url: null};
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (d) => {
        // Keep the tail only: enough to explain a failure, bounded in memory.
        proc.stderr = (proc.stderr + d).slice(-20000);
    });
    proc.exited = new Promise((resolve) => child.on("exit", (code, signal) => {
        proc.exit = {code, signal};
        resolve(proc.exit);
    }));
    proc.ready = new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(
            `no "listening on" line from ${what} within ${WAIT} ms; stderr:\n${proc.stderr}`)), WAIT);
        child.stdout.setEncoding("utf8");
        child.stdout.on("data", (d) => {
            proc.stdout = (proc.stdout + d).slice(-20000);
            const m = /listening on http:\/\/[\d.]+:(\d+)\//.exec(proc.stdout);
            if (m && !proc.url) {
                clearTimeout(timer);
                proc.url = `http://127.0.0.1:${m[1]}`;
                resolve(proc.url);
            }
        });
        child.on("error", (e) => {
            clearTimeout(timer);
            reject(e);
        });
        proc.exited.then((e) => {
            clearTimeout(timer);
            reject(new Error(`${what} exited early (${JSON.stringify(e)}); stderr:\n${proc.stderr}`));
        });
    });
    return proc;
}

// The demo's config with this test's secret file and a short hold, so that the polling transports
// cycle through several connects during the test. Everything else (auth, rules) is the example's.
function writeConfig(tmp, secretFile) {
    const demo = fs.readFileSync(DEMO_CONFIG, "utf8");
    const line = /^secret_file = "run\/demo-secret"$/m;
    assert.match(demo, line, "examples/chat/encke.toml names run/demo-secret");
    const keyLine = /^key_file = "run\/demo-api-key"$/m;
    assert.match(demo, keyLine, "examples/chat/encke.toml names run/demo-api-key");
    const keyFile = path.join(tmp, "demo-api-key");
    fs.writeFileSync(keyFile, `${API_KEY}\n`, {mode: 0o600});
    const config = path.join(tmp, "encke.toml");
    fs.writeFileSync(config, demo.replace(line, `secret_file = ${JSON.stringify(secretFile)}`)
        .replace(keyLine, `key_file = ${JSON.stringify(keyFile)}`) +
        "\n[bayeux]\ntimeout_ms = 5000\n\n[log]\nlevel = \"info\"\n");
    return config;
}

function startServer(tmp, secretFile) {
    const config = writeConfig(tmp, secretFile);
    return startProcess(BIN, BIN, ["serve", "--config", config, "--listen", "127.0.0.1:0", "--web-root", WEB_ROOT]);
}

function startLogin(secretFile) {
    return startProcess("demo-login.mjs", process.execPath, [LOGIN_SCRIPT, secretFile],
        {ENCKE_DEMO_LOGIN_LISTEN: "127.0.0.1:0", ENCKE_DEMO_SECRET_FILE: ""});
}

async function stopProcess(proc, timeoutMs = 10000) {
    if (proc.exit) {
        return proc.exit;
    }
    proc.child.kill("SIGTERM");
    const timer = setTimeout(() => proc.child.kill("SIGKILL"), timeoutMs);
    const exit = await proc.exited;
    clearTimeout(timer);
    return exit;
}

function writeSecret(tmp, name) {
    const file = path.join(tmp, name);
    fs.writeFileSync(file, randomBytes(32).toString("hex") + "\n", {mode: 0o600});
    return file;
}

// ---------------------------------------------------------------- page helpers

function watchPage(page, name, log) {
    page.on("console", (m) => {
        if (m.type() === "error" || m.type() === "warning") {
            log.push(`[${name} console.${m.type()}] ${m.text()}`);
        }
    });
    page.on("pageerror", (e) => log.push(`[${name} pageerror] ${e.message}`));
    page.on("requestfailed", (r) => {
        // Aborted long polls on page close are normal; everything else is worth showing.
        log.push(`[${name} requestfailed] ${r.method()} ${r.url().slice(0, 200)} ${r.failure()?.errorText}`);
    });
    page.on("response", (r) => {
        if (r.status() >= 400) {
            log.push(`[${name} HTTP ${r.status()}] ${r.request().method()} ${r.url().slice(0, 200)}`);
        }
    });
}

function pageUrl(baseUrl, loginUrl, transport) {
    return `${baseUrl}/?transport=${encodeURIComponent(transport)}&login=${encodeURIComponent(loginUrl)}`;
}

// Signs in through the page's form (the page POSTs to the login backend, then handshakes with the
// token) and waits for "connected".
async function joinAs(page, baseUrl, loginUrl, {user, room, transport}) {
    await page.goto(pageUrl(baseUrl, loginUrl, transport), {timeout: WAIT});
    await page.locator("html[data-ready=true]").waitFor({state: "attached", timeout: WAIT});
    await page.fill("#name", user, {timeout: WAIT});
    await page.fill("#room", room, {timeout: WAIT});
    assert.equal(await page.inputValue("#transport"), transport, "?transport= preselects the transport");
    await page.click("#join", {timeout: WAIT});
    await page.locator('#status[data-state="connected"]').waitFor({timeout: WAIT});
    assert.equal((await page.textContent("#me")).trim(), user, "the page says who is signed in");
    assert.equal((await page.textContent("#header-user")).trim(), user);
    // Whoever has a clientId can use that session: the page never shows it.
    const clientId = await page.evaluate(() => window.enckeDemo.cometd.getClientId());
    assert.ok(clientId && !(await page.textContent("body")).includes(clientId), "the clientId is not on the page");
}

async function waitForMessage(page, user, text) {
    await page.locator(`#messages li.msg[data-user="${user}"] .text`, {hasText: text}).first()
        .waitFor({timeout: WAIT});
}

// A private message as its recipient sees it ("private from <user>") or, with `to`, as its sender
// sees it ("private to <to>").
async function waitForPrivate(page, user, text, to = "") {
    const li = to
        ? page.locator(`#messages li.msg.private.own[data-user="${user}"][data-to="${to}"]`, {hasText: text})
        : page.locator(`#messages li.msg.private:not(.own)[data-user="${user}"]`, {hasText: text});
    await li.first().waitFor({timeout: WAIT});
    const label = (await li.first().locator(".private-label").textContent()).trim();
    assert.equal(label, to ? `private to ${to}` : "private, to you");
    assert.equal((await li.first().locator(".meta .user").textContent()).trim(), user);
}

async function sendPrivate(page, to, text) {
    await page.click(`#members li[data-user="${to}"] button.pm`, {timeout: WAIT});
    assert.equal(await page.getAttribute("#composer-target", "data-mode"), "private");
    await send(page, text);
    await page.click("#to-room", {timeout: WAIT});
    assert.equal(await page.getAttribute("#composer-target", "data-mode"), "room");
}

// Publishes through the page's own CometD object with ext.user forged; resolves with the reply.
async function publishForged(page, channel, data, forgedUser) {
    return page.evaluate(([channel, data, forgedUser]) => new Promise((resolve) => {
        window.enckeDemo.cometd.publish(channel, data, {ext: {user: forgedUser}},
            (reply) => resolve({successful: reply.successful, error: reply.error ?? null}));
    }), [channel, data, forgedUser]);
}

async function waitForMember(page, user, state = "attached") {
    await page.locator(`#members li[data-user="${user}"]`).waitFor({state, timeout: WAIT});
}

async function send(page, text) {
    await page.fill("#message", text, {timeout: WAIT});
    await page.click("#send", {timeout: WAIT});
}

// ---------------------------------------------------------------- the test

describe("chat demo in Chromium", {concurrency: 1}, () => {
    let tmp;
    let server;
    let login;       // the demo's login backend, signing with the server's secret
    let wrongLogin;  // the same backend with another secret: its tokens are forged as far as Encke knows
    let browser;

    before(async () => {
        assert.ok(fs.existsSync(BIN), `server binary ${BIN} not found (build it, or set ENCKE_BIN)`);
        assert.ok(fs.existsSync(path.join(WEB_ROOT, "vendor", "cometd", "cometd.js")),
            "web/vendor/cometd/ is missing: run scripts/setup.sh");
        fs.mkdirSync(ARTIFACTS, {recursive: true});
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "encke-browser-"));
        const secret = writeSecret(tmp, "demo-secret");
        server = startServer(tmp, secret);
        login = startLogin(secret);
        wrongLogin = startLogin(writeSecret(tmp, "other-secret"));
        const launched = chromium.launch({
            executablePath: CHROMIUM,
            headless: true,
            timeout: WAIT * 2,
            args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });
        const results = await Promise.allSettled([server.ready, login.ready, wrongLogin.ready, launched]);
        browser = results[3].value;
        for (const r of results) {
            if (r.status === "rejected") {
                throw r.reason;
            }
        }
    });

    after(async () => {
        await browser?.close().catch(() => {});
        for (const proc of [server, login, wrongLogin]) {
            if (proc) {
                await stopProcess(proc);
            }
        }
        if (tmp) {
            fs.rmSync(tmp, {recursive: true, force: true});
        }
    });

    test("login backend: token for a valid name, 400 for a bad one, 413 past 4 KiB, CORS", {timeout: WAIT}, async () => {
        const url = `${login.url}/login`;
        const post = (body, headers = {}) => fetch(url, {
            method: "POST",
            headers: {"Content-Type": "application/json", ...headers},
            body,
            signal: AbortSignal.timeout(WAIT),
        });

        const before = Math.floor(Date.now() / 1000);
        const ok = await post(JSON.stringify({user: "ada.l@x_~"}), {Origin: "http://page.test"});
        assert.equal(ok.status, 200);
        assert.equal(ok.headers.get("access-control-allow-origin"), "http://page.test");
        const body = await ok.json();
        assert.equal(body.user, "ada.l@x_~");
        const [payload, sig] = body.token.split(".");
        const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
        assert.equal(claims.sub, "ada.l@x_~");
        assert.equal(claims.exp, body.expires);
        assert.ok(Math.abs(body.expires - before - 8 * 3600) <= 5, `expires in 8 h: ${body.expires - before} s`);
        const secret = fs.readFileSync(path.join(tmp, "demo-secret"), "utf8").trimEnd();
        assert.equal(sig, createHmac("sha256", secret).update(payload).digest("base64url"),
            "HMAC-SHA256 over the payload with the shared secret, base64url without padding");
        assert.ok(!body.token.includes("="), "no base64 padding");

        for (const user of ["", "a b", "x".repeat(33), "a/b", "{user}", 42]) {
            const bad = await post(JSON.stringify({user}));
            assert.equal(bad.status, 400, `name ${JSON.stringify(user)}`);
            assert.equal(typeof (await bad.json()).error, "string");
        }
        assert.equal((await post("not json")).status, 400);
        const big = await post(JSON.stringify({user: "a", pad: "x".repeat(5000)}));
        assert.equal(big.status, 413);
        await big.body?.cancel();

        const preflight = await fetch(url, {
            method: "OPTIONS",
            headers: {"Origin": "http://page.test", "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type"},
            signal: AbortSignal.timeout(WAIT),
        });
        assert.equal(preflight.status, 204);
        assert.equal(preflight.headers.get("access-control-allow-origin"), "http://page.test");
        assert.match(preflight.headers.get("access-control-allow-methods"), /POST/);
        assert.match(preflight.headers.get("access-control-allow-headers"), /content-type/i);
    });

    test("a token signed with another secret is refused at the handshake: the page shows 403::token_invalid",
        {timeout: WAIT * 3}, async () => {
            const log = [];
            const ctx = await browser.newContext({viewport: {width: 1024, height: 680}});
            try {
                const page = await ctx.newPage();
                watchPage(page, "mallory", log);
                await page.goto(pageUrl(server.url, `${wrongLogin.url}/login`, "websocket"), {timeout: WAIT});
                await page.locator("html[data-ready=true]").waitFor({state: "attached", timeout: WAIT});
                await page.fill("#name", "mallory", {timeout: WAIT});
                await page.click("#join", {timeout: WAIT});
                await page.locator("#join-error", {hasText: "403::token_invalid"}).waitFor({timeout: WAIT});
                assert.equal(await page.isVisible("#chat-panel"), false, "no chat without a session");
                assert.equal(await page.getAttribute("#status", "data-state"), "error");
                await page.screenshot({path: path.join(ARTIFACTS, "chat-refused.png"), fullPage: true});
                assert.deepEqual(log.filter((l) => l.includes("pageerror")), [], "no uncaught exceptions");
            } catch (e) {
                e.message += `\n--- browser log ---\n${log.join("\n")}`;
                throw e;
            } finally {
                await ctx.close().catch(() => {});
            }
        });

    // sameBrowser=false: two browser contexts (two cookie jars, like two people on two machines).
    // sameBrowser=true: two tabs of one browser, sharing the BAYEUX_BROWSER cookie; over HTTP the
    // server holds one long poll per browser and tells the other tab to poll ("multiple-clients").
    for (const sameBrowser of [false, true]) {
        for (const transport of TRANSPORTS) {
            const withPrivate = !sameBrowser && PRIVATE_TRANSPORTS.includes(transport);
            const what = sameBrowser ? "two tabs of one browser" : withPrivate ? "three users" : "two users";
            const tag = sameBrowser ? `${transport}-tabs` : transport;
            const extra = withPrivate ? " (private messages, security check, forged ext.user)" : "";
            test(`${what} chat over ${transport}${extra}`, {timeout: WAIT * 12}, async () => {
                await chatScenario(transport, tag, sameBrowser, withPrivate);
            });
        }
    }

    async function chatScenario(transport, tag, sameBrowser, withPrivate) {
        const room = `room-${tag}`;
        const log = [];
        const contexts = [];
        const loginUrl = `${login.url}/login`;
        try {
            const newPage = async (name) => {
                let ctx = sameBrowser ? contexts[0] : undefined;
                if (!ctx) {
                    ctx = await browser.newContext({viewport: {width: 1024, height: 680}});
                    contexts.push(ctx);
                }
                const page = await ctx.newPage();
                watchPage(page, name, log);
                return page;
            };
            const alice = await newPage("alice");
            const bob = await newPage("bob");
            const carol = withPrivate ? await newPage("carol") : null;
            const pages = carol ? [alice, bob, carol] : [alice, bob];
            const users = carol ? ["alice", "bob", "carol"] : ["alice", "bob"];

            await joinAs(alice, server.url, loginUrl, {user: "alice", room, transport});
            await joinAs(bob, server.url, loginUrl, {user: "bob", room, transport});
            if (carol) {
                await joinAs(carol, server.url, loginUrl, {user: "carol", room, transport});
            }

            // Presence: each join reached those already there, their "here" reached the newcomer.
            for (const page of pages) {
                for (const user of users) {
                    await waitForMember(page, user);
                }
            }

            // Carol listens to everything she is allowed to: /** is accepted, but never delivers a
            // channel she could not subscribe to by name (such as someone else's inbox).
            if (carol) {
                const reply = await carol.evaluate(() => new Promise((resolve) => {
                    window.carolSaw = [];
                    window.enckeDemo.cometd.subscribe("/**", (m) => {
                        // CometD also hands a /** listener the acks of the page's own publishes
                        // (no data); only deliveries count.
                        if (m.data === undefined) {
                            return;
                        }
                        window.carolSaw.push({channel: m.channel, user: m.ext?.user ?? null, id: m.data?.id ?? null});
                    }, (r) => resolve({successful: r.successful, error: r.error ?? null}));
                }));
                assert.deepEqual(reply, {successful: true, error: null}, "carol may subscribe to /**");
            }

            const fromAlice = `Hello bob, this is alice over ${transport}`;
            const fromBob = `Hi alice <b>${transport}</b> & "quotes"`;
            await send(alice, fromAlice);
            await waitForMessage(bob, "alice", fromAlice);
            await send(bob, fromBob);
            await waitForMessage(alice, "bob", fromBob);
            // Each side also sees its own message.
            await waitForMessage(alice, "alice", fromAlice);
            await waitForMessage(bob, "bob", fromBob);
            // User text is shown as text, never parsed as markup.
            assert.equal(await alice.locator("#messages b").count(), 0, "message text must not become HTML");

            if (carol) {
                await privateScenario({alice, bob, carol, room, transport});
            }

            for (const page of pages) {
                assert.equal((await page.textContent("#transport-in-use")).trim(), transport);
                assert.equal(await page.getAttribute("#status", "data-state"), "connected");
                assert.equal(await page.locator("#members li").count(), users.length);
            }
            if (sameBrowser && transport !== "websocket") {
                const shared = [];
                for (const page of [alice, bob]) {
                    shared.push(await page.getAttribute("#status", "data-multiple-clients"));
                }
                assert.ok(shared.includes("true"),
                    "one of two same-browser tabs long-polling at once was advised multiple-clients");
            }

            await alice.screenshot({path: path.join(ARTIFACTS, `chat-${tag}.png`)});
            await bob.screenshot({path: path.join(ARTIFACTS, `chat-${tag}-bob.png`)});
            if (carol) {
                await carol.screenshot({path: path.join(ARTIFACTS, `chat-${tag}-carol.png`)});
            }

            // Leaving is announced: bob disappears from alice's list.
            await bob.click("#leave", {timeout: WAIT});
            await waitForMember(alice, "bob", "detached");
            await bob.locator('#status[data-state="disconnected"]').waitFor({timeout: WAIT});

            if (process.env.ENCKE_TEST_VERBOSE === "1") {
                console.log(`--- browser log (${tag}) ---\n${log.join("\n")}`);
            }
            const pageErrors = log.filter((l) => l.includes("pageerror"));
            assert.deepEqual(pageErrors, [], "no uncaught exceptions in the pages");
        } catch (e) {
            let i = 0;
            for (const ctx of contexts) {
                for (const p of ctx.pages()) {
                    await p.screenshot({path: path.join(ARTIFACTS, `chat-${tag}-FAILED-${i++}.png`)})
                        .catch(() => {});
                }
            }
            e.message += `\n--- browser log ---\n${log.join("\n")}` +
                `\n--- server stderr (tail) ---\n${server.stderr.slice(-4000)}` +
                `\n--- login stderr (tail) ---\n${login.stderr.slice(-2000)}`;
            throw e;
        } finally {
            for (const ctx of contexts) {
                await ctx.close().catch(() => {});
            }
        }
    }

    // Private messages between alice and bob; carol, in the same room, reads none of them, cannot
    // subscribe to alice's inbox, and cannot speak as alice.
    async function privateScenario({alice, bob, carol, room, transport}) {
        const toBob = `psst bob, alice here (${transport})`;
        const toAlice = `psst alice, bob here (${transport})`;
        await sendPrivate(alice, "bob", toBob);
        await waitForPrivate(bob, "alice", toBob);
        await waitForPrivate(alice, "alice", toBob, "bob");
        await sendPrivate(bob, "alice", toAlice);
        await waitForPrivate(alice, "bob", toAlice);
        await waitForPrivate(bob, "bob", toAlice, "alice");

        // The security check: subscribing to alice's inbox is refused by the server.
        await carol.fill("#probe-user", "alice", {timeout: WAIT});
        await carol.click("#probe", {timeout: WAIT});
        await carol.locator('#probe-result[data-outcome="refused"]').waitFor({timeout: WAIT});
        assert.match(await carol.textContent("#probe-result"), /403::subscribe_denied/);

        // Forged identity: carol's ext.user "alice" is replaced by the server with "carol" (and the
        // page ignores the data.user "alice" she adds too).
        const forgedPrivate = `I am alice, honest (${transport})`;
        const r1 = await publishForged(carol, "/users/bob/inbox",
            {text: forgedPrivate, id: `forged-pm-${transport}`, ts: Date.now(), user: "alice"}, "alice");
        assert.deepEqual(r1, {successful: true, error: null}, "any signed-in user may post into an inbox");
        await waitForPrivate(bob, "carol", forgedPrivate);
        assert.equal(await bob.locator('#messages li.msg[data-user="alice"]', {hasText: forgedPrivate}).count(), 0,
            "the forged ext.user is never shown");

        const forgedChat = `alice says hi (really carol, ${transport})`;
        const chatId = `forged-chat-${transport}`;
        const r2 = await publishForged(carol, `/chat/${room}`,
            {text: forgedChat, id: chatId, ts: Date.now(), user: "alice"}, "alice");
        assert.deepEqual(r2, {successful: true, error: null});
        await waitForMessage(alice, "carol", forgedChat);
        await waitForMessage(bob, "carol", forgedChat);
        assert.equal(await alice.locator('#messages li.msg[data-user="alice"]', {hasText: forgedChat}).count(), 0);

        // The application's backend speaks through POST /api/publish: no session published it, so
        // it carries no ext.user and the page shows it as coming from the server.
        const announcement = `maintenance at noon (${transport})`;
        const res = await fetch(`${server.url}/api/publish`, {
            method: "POST",
            headers: {"Authorization": `Bearer ${API_KEY}`, "Content-Type": "application/json"},
            body: JSON.stringify({channel: `/chat/${room}`, data: {text: announcement}}),
            signal: AbortSignal.timeout(WAIT),
        });
        assert.equal(res.status, 200, await res.text());
        for (const page of [alice, bob, carol]) {
            await page.locator("#messages li.system.server", {hasText: `from the server: ${announcement}`})
                .waitFor({timeout: WAIT});
        }

        // Carol's /** subscription got the forged chat message, published after every private
        // message (one session's deliveries keep their order), and nothing from anyone's inbox.
        await carol.waitForFunction((id) => window.carolSaw.some((m) => m.id === id), chatId, {timeout: WAIT});
        const saw = await carol.evaluate(() => window.carolSaw);
        const inbox = saw.filter((m) => m.channel.startsWith("/users/"));
        assert.deepEqual(inbox, [], "a wildcard subscription never delivers another user's inbox");
        assert.ok(saw.some((m) => m.channel === `/chat/${room}` && m.user === "alice"),
            "the wildcard did deliver the room's messages, with the server's ext.user");
        assert.equal(await carol.locator("#messages li.private").count(), 0, "carol sees no private message");
        for (const text of [toBob, toAlice]) {
            assert.equal(await carol.locator("#messages li", {hasText: text}).count(), 0);
        }
    }

    test("server and login backends exit 0 on SIGTERM", {timeout: WAIT + 5000}, async () => {
        const exits = await Promise.all([server, login, wrongLogin].map((p) => stopProcess(p, WAIT)));
        assert.deepEqual(exits[0], {code: 0, signal: null}, `encke exit after SIGTERM; stderr tail:\n${server.stderr.slice(-2000)}`);
        assert.deepEqual(exits.slice(1), [{code: 0, signal: null}, {code: 0, signal: null}],
            `demo-login exits after SIGTERM; stderr tail:\n${login.stderr.slice(-2000)}`);
    });
});
