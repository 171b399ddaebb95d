// Browser test of the chat demo (web/) against a real Encke binary, driven through Debian's
// Chromium with playwright-core (recipe: SERVICES.md §7).
//
// For each transport: two users join the same room, exchange messages both ways, see each other in
// the member list, see the transport they asked for in use, and the second user's "leave" reaches the
// first. Done twice: as two browsers (separate cookie jars) and as two tabs of one browser (shared
// BAYEUX_BROWSER cookie, so the server's one-long-poll-per-browser rule is in play). One screenshot
// per page goes to test-artifacts/.
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

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const BIN = path.resolve(ROOT, process.env.ENCKE_BIN || "build/release/encke");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const WEB_ROOT = path.join(ROOT, "web");
const ARTIFACTS = path.join(ROOT, "test-artifacts");
const WAIT = Number(process.env.ENCKE_TEST_WAIT_MS || 15000);
const TRANSPORTS = ["websocket", "long-polling", "callback-polling"];

// ---------------------------------------------------------------- server

function startServer() {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "encke-browser-"));
    const config = path.join(tmp, "encke.toml");
    // A short hold makes the polling transports cycle through several connects during the test.
    fs.writeFileSync(config, "[bayeux]\ntimeout_ms = 5000\n\n[log]\nlevel = \"info\"\n");
    const child = spawn(BIN, ["serve", "--config", config, "--listen", "127.0.0.1:0", "--web-root", WEB_ROOT], {
        cwd: ROOT,
        stdio: ["ignore", "pipe", "pipe"],
    });
    const server = {child, tmp, stdout: "", stderr: "", exit: null, url: null};
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (d) => {
        // Keep the tail only: enough to explain a failure, bounded in memory.
        server.stderr = (server.stderr + d).slice(-20000);
    });
    server.exited = new Promise((resolve) => child.on("exit", (code, signal) => {
        server.exit = {code, signal};
        resolve(server.exit);
    }));
    server.ready = new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(
            `no "listening on" line from ${BIN} within ${WAIT} ms; stderr:\n${server.stderr}`)), WAIT);
        child.stdout.setEncoding("utf8");
        child.stdout.on("data", (d) => {
            server.stdout += d;
            const m = /listening on http:\/\/[\d.]+:(\d+)\//.exec(server.stdout);
            if (m && !server.url) {
                clearTimeout(timer);
                server.url = `http://127.0.0.1:${m[1]}`;
                resolve(server.url);
            }
        });
        child.on("error", (e) => {
            clearTimeout(timer);
            reject(e);
        });
        server.exited.then((e) => {
            clearTimeout(timer);
            reject(new Error(`${BIN} exited early (${JSON.stringify(e)}); stderr:\n${server.stderr}`));
        });
    });
    return server;
}

async function stopServer(server, timeoutMs = 10000) {
    if (server.exit) {
        return server.exit;
    }
    server.child.kill("SIGTERM");
    const timer = setTimeout(() => server.child.kill("SIGKILL"), timeoutMs);
    const exit = await server.exited;
    clearTimeout(timer);
    return exit;
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

async function joinAs(page, baseUrl, {user, room, transport}) {
    await page.goto(`${baseUrl}/?transport=${encodeURIComponent(transport)}`, {timeout: WAIT});
    await page.locator("html[data-ready=true]").waitFor({state: "attached", timeout: WAIT});
    await page.fill("#name", user, {timeout: WAIT});
    await page.fill("#room", room, {timeout: WAIT});
    assert.equal(await page.inputValue("#transport"), transport, "?transport= preselects the transport");
    await page.click("#join", {timeout: WAIT});
    await page.locator('#status[data-state="connected"]').waitFor({timeout: WAIT});
}

async function waitForMessage(page, user, text) {
    await page.locator(`#messages li.msg[data-user="${user}"] .text`, {hasText: text}).first()
        .waitFor({timeout: WAIT});
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
    let server;
    let browser;

    before(async () => {
        assert.ok(fs.existsSync(BIN), `server binary ${BIN} not found (build it, or set ENCKE_BIN)`);
        assert.ok(fs.existsSync(path.join(WEB_ROOT, "vendor", "cometd", "cometd.js")),
            "web/vendor/cometd/ is missing: run scripts/setup.sh");
        fs.mkdirSync(ARTIFACTS, {recursive: true});
        server = startServer();
        await server.ready;
        browser = await chromium.launch({
            executablePath: CHROMIUM,
            headless: true,
            timeout: WAIT * 2,
            args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });
    });

    after(async () => {
        await browser?.close().catch(() => {});
        if (server) {
            await stopServer(server);
            fs.rmSync(server.tmp, {recursive: true, force: true});
        }
    });

    // sameBrowser=false: two browser contexts (two cookie jars, like two people on two machines).
    // sameBrowser=true: two tabs of one browser, sharing the BAYEUX_BROWSER cookie; over HTTP the
    // server holds one long poll per browser and tells the other tab to poll ("multiple-clients").
    for (const sameBrowser of [false, true]) {
        for (const transport of TRANSPORTS) {
            const what = sameBrowser ? "two tabs of one browser" : "two users";
            const tag = sameBrowser ? `${transport}-tabs` : transport;
            test(`${what} chat over ${transport}`, {timeout: WAIT * 8}, async () => {
                await chatScenario(transport, tag, sameBrowser);
            });
        }
    }

    async function chatScenario(transport, tag, sameBrowser) {
        const room = `room-${tag}`;
        const log = [];
        const contexts = [];
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

            await joinAs(alice, server.url, {user: "alice", room, transport});
            await joinAs(bob, server.url, {user: "bob", room, transport});

            // Presence: bob's join reached alice, alice's "here" reached bob.
            for (const page of [alice, bob]) {
                await waitForMember(page, "alice");
                await waitForMember(page, "bob");
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

            for (const page of [alice, bob]) {
                assert.equal((await page.textContent("#transport-in-use")).trim(), transport);
                assert.equal(await page.getAttribute("#status", "data-state"), "connected");
                assert.equal(await page.locator("#members li").count(), 2);
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
                `\n--- server stderr (tail) ---\n${server.stderr.slice(-4000)}`;
            throw e;
        } finally {
            for (const ctx of contexts) {
                await ctx.close().catch(() => {});
            }
        }
    }

    test("server exits 0 on SIGTERM", {timeout: WAIT + 5000}, async () => {
        const exit = await stopServer(server, WAIT);
        assert.deepEqual(exit, {code: 0, signal: null}, `exit after SIGTERM; stderr tail:\n${server.stderr.slice(-2000)}`);
    });
});
