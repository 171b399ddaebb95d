// The embedding API from the outside, as an application sees it: `cmake --install` the release
// build into a temporary prefix, build examples/embed against it with find_package(Encke), check
// what was installed, then run the example on 127.0.0.1:0 and drive its hooks and services with the
// unmodified CometD client (cometd-nodejs-client) over websocket and long-polling.
//
// The release build must exist: $ENCKE_BUILD_DIR, default <repo>/build/release (scripts/test.sh
// builds it first). Everything else (prefix, example build) lives in a temporary folder removed
// when the test process exits. Every wait is bounded; the example is stopped by PID.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { CometDNodeClient } from '../interop/lib/clients.mjs';
import { REPO_ROOT, sleep, tempDir, uniq, waitFor, within } from '../interop/lib/harness.mjs';

const BUILD_DIR = path.resolve(REPO_ROOT, process.env.ENCKE_BUILD_DIR || 'build/release');
const EXAMPLE_SRC = path.join(REPO_ROOT, 'examples/embed');
const PUBLIC_HEADERS = ['encke.hpp', 'events.hpp', 'export.hpp', 'server.hpp', 'version.hpp'];
const WAIT = 10000; // one client round trip, one HTTP request
const SETTLE_MS = 300; // after the last expected message, to catch a stray delivery

/** Runs a command (no shell), bounded; resolves { ok, code, out } and never rejects. */
function run(cmd, args, { timeout = 60000, cwd = REPO_ROOT, env } = {}) {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, env, timeout, killSignal: 'SIGKILL', maxBuffer: 32 * 1024 * 1024 }, (err, stdout, stderr) => {
      const out = `$ ${cmd} ${args.join(' ')}\n${stdout}${stderr}`;
      if (!err) return resolve({ ok: true, code: 0, out });
      const why = err.killed ? `killed after ${timeout} ms` : `exit ${err.code}`;
      resolve({ ok: false, code: err.code, out: `${out}\n(${why}: ${err.message.split('\n')[0]})` });
    });
  });
}

/** Like run(), but throws with the command's output unless it succeeded. */
async function must(cmd, args, opts) {
  const r = await run(cmd, args, opts);
  assert.ok(r.ok, `command failed:\n${r.out.slice(-8000)}`);
  return r.out;
}

// The environment for the example and for ldd: no LD_LIBRARY_PATH, so that libencke.so is found
// through the binary's own RUNPATH (what CMake gave it from the imported target), or not at all.
function cleanEnv() {
  const env = { ...process.env };
  delete env.LD_LIBRARY_PATH;
  delete env.LD_PRELOAD;
  return env;
}

/** Lists files under `dir`, as paths relative to it (directories end in '/'). */
function tree(dir) {
  const out = [];
  const walk = (d, rel) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        out.push(`${r}/`);
        walk(path.join(d, e.name), r);
      } else out.push(r);
    }
  };
  walk(dir, '');
  return out.sort();
}

// ------------------------------------------------------------------------------------------
// The example program

const LISTEN_RE = /encke-embed-example listening on port (\d+)/;

async function startExample(bin) {
  const child = spawn(bin, ['127.0.0.1:0'], { cwd: path.dirname(bin), env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  const ex = { child, pid: child.pid, port: 0, stdout: '', stderr: '', exit: null };
  ex.exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      ex.exit = { code, signal };
      resolve(ex.exit);
    });
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => {
    ex.stderr += d;
    if (ex.stderr.length > 200000) ex.stderr = ex.stderr.slice(-100000);
  });
  child.stdout.setEncoding('utf8');
  const listening = new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      ex.stdout += d;
      const m = LISTEN_RE.exec(ex.stdout);
      if (m && !ex.port) {
        ex.port = Number(m[1]);
        resolve();
      }
    });
    child.on('error', reject);
    ex.exited.then((e) => reject(new Error(`the example exited before listening (code ${e.code}, signal ${e.signal})\nstdout:\n${ex.stdout}\nstderr:\n${ex.stderr.slice(-4000)}`)));
  });
  try {
    await within(listening, 'the example to print "encke-embed-example listening on port N"', 15000);
  } catch (e) {
    if (!ex.exit) child.kill('SIGKILL');
    throw e;
  }
  ex.base = `http://127.0.0.1:${ex.port}`;
  ex.url = `${ex.base}/cometd`;
  ex.tail = () => `--- example stdout ---\n${ex.stdout.slice(-1500)}\n--- example stderr ---\n${ex.stderr.slice(-3000)}`;
  return ex;
}

async function healthz(ex) {
  const res = await within(fetch(`${ex.base}/healthz`), 'GET /healthz', WAIT);
  const text = await res.text();
  assert.equal(res.status, 200, `/healthz: ${text}`);
  try {
    return JSON.parse(text);
  } catch {
    assert.fail(`/healthz is not JSON: ${text}`);
  }
}

// ------------------------------------------------------------------------------------------

describe('embedding Encke: install, find_package, the example program', { timeout: 110000 }, () => {
  const work = tempDir('encke-embed-');
  const prefix = path.join(work, 'prefix');
  const exampleBuild = path.join(work, 'build');
  const exampleBin = path.join(exampleBuild, 'encke-embed-example');
  const log = [];

  before(async () => {
    assert.ok(
      fs.existsSync(path.join(BUILD_DIR, 'CMakeCache.txt')),
      `no CMake build at ${BUILD_DIR} (build the release preset first, or set ENCKE_BUILD_DIR)`,
    );
    log.push(await must('cmake', ['--install', BUILD_DIR, '--prefix', prefix], { timeout: 120000 }));
    log.push(
      await must('cmake', ['-S', EXAMPLE_SRC, '-B', exampleBuild, '-G', 'Ninja', `-DCMAKE_PREFIX_PATH=${prefix}`, '-DCMAKE_BUILD_TYPE=Release'], {
        timeout: 120000,
      }),
    );
    log.push(await must('cmake', ['--build', exampleBuild], { timeout: 300000 }));
    assert.ok(fs.existsSync(exampleBin), `the example build made no ${exampleBin}:\n${log.join('\n').slice(-6000)}`);
  });

  test('the install prefix holds the binary, the library, the public headers and the package config', () => {
    const files = tree(prefix);
    const show = `installed:\n  ${files.join('\n  ')}`;
    assert.ok(fs.statSync(path.join(prefix, 'bin/encke')).mode & 0o111, `bin/encke is not executable\n${show}`);

    // libencke.so -> (soname) -> a real file, and the soname is what the library says it is.
    const lib = path.join(prefix, 'lib/libencke.so');
    assert.ok(fs.existsSync(lib), `no lib/libencke.so\n${show}`);
    assert.ok(fs.statSync(lib).isFile() && fs.statSync(lib).size > 0, `lib/libencke.so resolves to no library\n${show}`);
    assert.ok(fs.realpathSync(lib).startsWith(fs.realpathSync(path.join(prefix, 'lib')) + path.sep), 'libencke.so points out of the prefix');

    // The public headers, exactly those of include/encke/ and the same bytes; nothing private.
    assert.deepEqual(fs.readdirSync(path.join(prefix, 'include')), ['encke'], `only include/encke/ is installed\n${show}`);
    const installed = fs.readdirSync(path.join(prefix, 'include/encke')).sort();
    const source = fs.readdirSync(path.join(REPO_ROOT, 'include/encke')).sort();
    assert.deepEqual(installed, source, 'installed headers = include/encke/');
    for (const h of PUBLIC_HEADERS) assert.ok(installed.includes(h), `include/encke/${h} is installed`);
    for (const h of installed) {
      assert.ok(
        fs.readFileSync(path.join(prefix, 'include/encke', h)).equals(fs.readFileSync(path.join(REPO_ROOT, 'include/encke', h))),
        `installed include/encke/${h} differs from the source`,
      );
    }

    // No internal static libraries or other leftovers of the build.
    const stray = files.filter((f) => f.startsWith('lib/') && !f.endsWith('/') && !/^lib\/(libencke\.so(\.\d+)*|cmake\/Encke\/.+\.cmake)$/.test(f));
    assert.deepEqual(stray, [], `unexpected files under lib/\n${show}`);

    // The package config, and a version file that agrees with encke/version.hpp.
    const cm = path.join(prefix, 'lib/cmake/Encke');
    for (const f of ['EnckeConfig.cmake', 'EnckeConfigVersion.cmake', 'EnckeTargets.cmake']) {
      assert.ok(fs.existsSync(path.join(cm, f)), `lib/cmake/Encke/${f} is installed\n${show}`);
    }
    const perConfig = fs.readdirSync(cm).filter((f) => /^EnckeTargets-.+\.cmake$/.test(f));
    assert.equal(perConfig.length, 1, `one EnckeTargets-<config>.cmake\n${show}`);
    assert.match(fs.readFileSync(path.join(cm, perConfig[0]), 'utf8'), /libencke\.so/, 'the targets file names libencke.so');
    assert.match(fs.readFileSync(path.join(cm, 'EnckeTargets.cmake'), 'utf8'), /add_library\(Encke::encke SHARED IMPORTED\)/);
    const hdrVersion = /version_string = "([^"]+)"/.exec(fs.readFileSync(path.join(prefix, 'include/encke/version.hpp'), 'utf8'));
    const pkgVersion = /set\(PACKAGE_VERSION "([^"]+)"\)/.exec(fs.readFileSync(path.join(cm, 'EnckeConfigVersion.cmake'), 'utf8'));
    assert.ok(hdrVersion && pkgVersion, 'versions readable');
    assert.equal(pkgVersion[1], hdrVersion[1], 'EnckeConfigVersion.cmake and encke/version.hpp agree');
  });

  test('the public headers include only the standard library and each other, and each compiles alone', async () => {
    const inc = path.join(prefix, 'include');
    const bad = [];
    for (const h of fs.readdirSync(path.join(inc, 'encke'))) {
      const lines = fs.readFileSync(path.join(inc, 'encke', h), 'utf8').split('\n');
      lines.forEach((line, i) => {
        const m = /^\s*#\s*include\s*([<"])([^>"]+)[>"]/.exec(line);
        if (!m && /^\s*#\s*include/.test(line)) bad.push(`${h}:${i + 1}: unreadable include: ${line}`);
        if (!m) return;
        const name = m[2];
        if (/boost|asio|beast|simdjson|spdlog|fmt\/|toml|openssl|proton/i.test(name)) bad.push(`${h}:${i + 1}: third-party header ${line.trim()}`);
        else if (name.startsWith('encke/')) {
          if (!fs.existsSync(path.join(inc, name))) bad.push(`${h}:${i + 1}: ${name} is not installed`);
        } else if (!/^[a-z_]+$/.test(name)) bad.push(`${h}:${i + 1}: not a standard header: ${line.trim()}`);
      });
    }
    assert.deepEqual(bad, [], 'includes of the installed public headers');

    const dir = tempDir('encke-embed-hdr-');
    const results = await Promise.all(
      fs.readdirSync(path.join(inc, 'encke')).map((h) => {
        const src = path.join(dir, `${h}.cpp`);
        fs.writeFileSync(src, `#include <encke/${h}>\n#include <encke/${h}>\n`);
        // -nostdinc++ is not wanted: the standard library is allowed; nothing else is on the path.
        return run('c++', ['-std=c++20', '-fsyntax-only', '-Wall', '-Wextra', '-Werror', `-I${inc}`, src], { timeout: 60000 });
      }),
    );
    const failed = results.filter((r) => !r.ok).map((r) => r.out);
    assert.deepEqual(failed, [], 'every installed header compiles on its own (twice included)');
  });

  test('libencke.so exports the encke API and nothing of its dependencies', async () => {
    // Hidden visibility plus --exclude-libs are meant to keep every dependency private
    // (include/encke/export.hpp: "nothing else leaks out of it"). An exported Boost vtable or a
    // GNU-unique Asio symbol would be bound to an application's own Boost at load time.
    const out = await must('nm', ['-D', '-C', '--defined-only', path.join(prefix, 'lib/libencke.so')], { timeout: 30000 });
    const symbols = out
      .split('\n')
      .slice(1)
      .map((l) => /^[0-9a-f]+\s+(\S)\s+(.*)$/.exec(l))
      .filter(Boolean)
      .map(([, type, name]) => ({ type, name }));
    const api = symbols.filter((s) => /\bencke::/.test(s.name));
    assert.ok(api.some((s) => s.name.startsWith('encke::server::start()')), `encke::server::start is exported:\n${out.slice(0, 3000)}`);
    const foreign = symbols
      .filter((s) => !/^(?:(?:typeinfo|typeinfo name|vtable) for )?encke::(?!node::|bayeux::|transport::|json::|engine::|util::|auth::|bridge::)/.test(s.name))
      .filter((s) => !/^(_init|_fini|_edata|_end|__bss_start)$/.test(s.name))
      .map((s) => `${s.type} ${s.name.slice(0, 160)}`);
    assert.deepEqual(foreign, [], `symbols exported by libencke.so that are not the public encke API (${foreign.length})`);
  });

  test('the example binary loads libencke.so from the install prefix', async () => {
    const out = await must('ldd', [exampleBin], { timeout: 30000, env: cleanEnv() });
    assert.doesNotMatch(out, /not found/, `unresolved libraries:\n${out}`);
    const line = out.split('\n').find((l) => /^\s*libencke\.so/.test(l));
    assert.ok(line, `the example does not link libencke.so:\n${out}`);
    const m = /=>\s*(\S+)/.exec(line);
    assert.ok(m, `no path for libencke.so in: ${line}`);
    const libDir = fs.realpathSync(path.join(prefix, 'lib'));
    assert.equal(path.dirname(fs.realpathSync(m[1])), libDir, `libencke.so comes from ${m[1]}, not from ${libDir}\n${out}`);
    assert.ok(!fs.realpathSync(m[1]).startsWith(fs.realpathSync(BUILD_DIR)), 'not from the build tree');
  });

  describe('the example running on 127.0.0.1:0', () => {
    let ex;
    const clients = [];

    before(async () => {
      ex = await startExample(exampleBin);
      // What the process really mapped, not only what ldd predicts.
      const maps = fs.readFileSync(`/proc/${ex.pid}/maps`, 'utf8');
      const mapped = [...new Set(maps.split('\n').filter((l) => /libencke\.so/.test(l)).map((l) => l.trim().split(/\s+/).pop()))];
      assert.equal(mapped.length, 1, `libencke.so mapped once: ${mapped}`);
      assert.equal(path.dirname(fs.realpathSync(mapped[0])), fs.realpathSync(path.join(prefix, 'lib')), `mapped ${mapped[0]}`);
    });

    after(async () => {
      await Promise.all(clients.splice(0).map((c) => c.close()));
      // Only if the last test did not stop it (a failure on the way): by PID, bounded.
      if (ex && !ex.exit) {
        try {
          process.kill(ex.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
        await within(ex.exited, 'the example to die after SIGKILL', 5000).catch(() => {});
      }
    });

    /** A CometD client that handshakes with ext {user, password}; resolves { c, reply }. */
    async function open(transport, name, ext) {
      const c = await CometDNodeClient.create(ex.url, { transport, name });
      clients.push(c);
      const reply = await within(new Promise((resolve) => c.cometd.handshake({ ext }, resolve)), `${name}: a handshake reply`, WAIT).catch((e) => {
        throw new Error(`${e.message}\n${c.rec.dump()}\n${ex.tail()}`);
      });
      return { c, reply };
    }

    async function login(transport, user, name = user) {
      const { c, reply } = await open(transport, name, { user, password: `secret-${user}` });
      assert.equal(reply.successful, true, `${name}: handshake as ${user} refused: ${JSON.stringify(reply)}\n${c.rec.dump()}\n${ex.tail()}`);
      await waitFor(() => c.transportType() === transport, `${name} on ${transport}`, { timeout: WAIT });
      return c;
    }

    async function close(c) {
      clients.splice(clients.indexOf(c), 1);
      await c.close();
    }

    /** Publishes and resolves with the server's reply (successful or not). */
    function publish(c, channel, data, props) {
      return within(new Promise((resolve) => c.cometd.publish(channel, data, props || {}, resolve)), `${c.name}: reply to a publish on ${channel}`, WAIT);
    }

    function remoteCall(c, target, data) {
      return within(new Promise((resolve) => c.cometd.remoteCall(target, data, WAIT, resolve)), `${c.name}: reply to remoteCall("${target}")`, WAIT + 1000);
    }

    /** Runs fn; on failure adds the clients' wire logs and the example's output. */
    async function traced(fn) {
      try {
        await fn();
      } catch (e) {
        // A new error, so that every reporter shows the logs (some print the original stack,
        // which holds the message as it was when the assertion was made).
        const err = new Error(`${e.message}\n${clients.slice(-4).map((c) => c.rec.dump(25)).join('\n')}\n${ex.tail()}`);
        err.stack = `${err.message}\n${String(e.stack || '').split('\n').filter((l) => /^\s+at /.test(l)).join('\n')}`;
        throw err;
      } finally {
        await Promise.all(clients.splice(0).map((c) => c.close()));
      }
    }

    for (const transport of ['websocket', 'long-polling']) {
      const t = transport === 'websocket' ? 'ws' : 'lp';

      describe(`CometD client over ${transport}`, () => {
        test('good credentials are let in; bad or missing ones get 403::bad_credentials and no retry', async () => {
          await traced(async () => {
            const user = `alice-${t}-${uniq()}`;
            const ok = await login(transport, user);
            assert.ok(ok.clientId(), 'a clientId');
            await waitFor(() => ex.stdout.includes(`session added: ${user}\n`), 'the on_session_added hook to print the user', { timeout: WAIT, detail: ex.tail });

            const attempts = [
              ['wrong password', { user, password: `secret-${user}x` }],
              ['no password', { user }],
              ['no ext at all', undefined],
              ['password of another user', { user: 'bob', password: `secret-${user}` }],
            ];
            for (const [what, ext] of attempts) {
              const { c, reply } = await open(transport, `bad-${what.replace(/ /g, '-')}`, ext);
              assert.equal(reply.successful, false, `${what}: ${JSON.stringify(reply)}`);
              assert.equal(reply.error, '403::bad_credentials', `${what}: the client reports ${JSON.stringify(reply)}`);
              assert.ok(!c.clientId(), `${what}: no clientId`);
              // advice reconnect:"none": the client stops instead of handshaking again.
              await sleep(SETTLE_MS);
              const handshakes = c.rec.log.filter((e) => e.dir === 'out' && e.msg.includes('"/meta/handshake"')).length;
              assert.equal(handshakes, 1, `${what}: the client handshook ${handshakes} times`);
              assert.ok(c.cometd.isDisconnected(), `${what}: the client is disconnected (status ${c.cometd.getStatus()})`);
            }
            assert.ok(!ex.stdout.includes('session added: bob'), 'no session for a refused handshake');
            // The good session was not disturbed.
            const who = await remoteCall(ok, 'whoami', {});
            assert.equal(who.successful, true, JSON.stringify(who));
            assert.equal(who.data.user, user);
          });
        });

        test('a /chat message is rewritten by the hook and carries the publisher\'s user in ext.user', async () => {
          await traced(async () => {
            const subUser = `sub-${t}-${uniq()}`;
            const pubUser = `pub-${t}-${uniq()}`;
            const sub = await login(transport, subUser);
            const pub = await login(transport, pubUser);
            const got = [];
            await sub.subscribe('/chat/lobby', (ch, data, m) => got.push(m));

            const before = Date.now();
            const r1 = await publish(pub, '/chat/lobby', { text: `hello from ${t}`, extra: 'dropped by the hook' });
            assert.equal(r1.successful, true, JSON.stringify(r1));
            // A client cannot claim to be someone else: its own ext.user is replaced.
            const r2 = await publish(pub, '/chat/lobby', { text: 'second: say "hi"\\n\u00e9' }, { ext: { user: subUser, note: 'kept' } });
            assert.equal(r2.successful, true, JSON.stringify(r2));
            await waitFor(() => got.length >= 2, 'two deliveries on /chat/lobby', { timeout: WAIT });
            const after = Date.now();
            await sleep(SETTLE_MS);

            assert.equal(got.length, 2, `deliveries: ${JSON.stringify(got)}`);
            const [m1, m2] = got;
            assert.deepEqual(Object.keys(m1.data).sort(), ['server_ms', 'text'], `data replaced by the hook: ${JSON.stringify(m1.data)}`);
            assert.equal(m1.data.text, `hello from ${t}`);
            assert.equal(typeof m1.data.server_ms, 'number');
            assert.ok(m1.data.server_ms >= before - 2000 && m1.data.server_ms <= after + 2000, `server_ms ${m1.data.server_ms} within [${before}, ${after}]`);
            assert.equal(m1.ext?.user, pubUser, `ext of the delivery: ${JSON.stringify(m1.ext)}`);
            assert.equal(m2.data.text, 'second: say "hi"\\n\u00e9', 'quotes, backslashes and unicode arrive intact');
            assert.equal(m2.ext?.user, pubUser, `a spoofed ext.user is replaced: ${JSON.stringify(m2.ext)}`);
            assert.equal(m2.ext?.note, 'kept', `the client's other ext members are kept: ${JSON.stringify(m2.ext)}`);
            assert.equal(sub.rec.rawCount('/chat/lobby'), 2, 'each delivered once');
          });
        });

        test('"spam" is refused with 403::spam and delivered to nobody; later messages still flow', async () => {
          await traced(async () => {
            const sub = await login(transport, `sub-${t}-${uniq()}`);
            const pub = await login(transport, `pub-${t}-${uniq()}`);
            const got = [];
            await sub.subscribe('/chat/lobby', (ch, data) => got.push(data));
            // The publisher also listens: a refused message must not come back to it either.
            const echoed = [];
            await pub.subscribe('/chat/**', (ch, data) => echoed.push(data));

            const r = await publish(pub, '/chat/lobby', { text: 'buy cheap spam now' });
            assert.equal(r.successful, false, `spam was accepted: ${JSON.stringify(r)}`);
            assert.equal(r.error, '403::spam', `the client reports ${JSON.stringify(r)}`);
            // A following message arrives, and arrives alone: the spam was never delivered.
            const ok = await publish(pub, '/chat/lobby', { text: 'after the refusal' });
            assert.equal(ok.successful, true, JSON.stringify(ok));
            await waitFor(() => got.length >= 1 && echoed.length >= 1, 'the message after the spam', { timeout: WAIT });
            await sleep(SETTLE_MS);
            assert.deepEqual(got.map((d) => d.text), ['after the refusal'], `subscriber got ${JSON.stringify(got)}`);
            assert.deepEqual(echoed.map((d) => d.text), ['after the refusal'], `publisher got ${JSON.stringify(echoed)}`);
          });
        });

        test('a hook that throws costs the client 500::hook_failed, is counted in /healthz, and the server goes on', async () => {
          await traced(async () => {
            const sub = await login(transport, `sub-${t}-${uniq()}`);
            const pub = await login(transport, `pub-${t}-${uniq()}`);
            const got = [];
            await sub.subscribe('/chat/lobby', (ch, data) => got.push(data));
            const h0 = await healthz(ex);
            assert.equal(typeof h0.hooks_failed, 'number', `/healthz has hooks_failed: ${JSON.stringify(h0)}`);

            const r = await publish(pub, '/chat/lobby', { text: 'throw' });
            assert.equal(r.successful, false, `a throwing hook let the message through: ${JSON.stringify(r)}`);
            assert.equal(r.error, '500::hook_failed', `the client reports ${JSON.stringify(r)}`);

            const h1 = await healthz(ex);
            assert.ok(h1.hooks_failed >= 1, `/healthz hooks_failed = ${h1.hooks_failed}`);
            assert.ok(h1.hooks_failed >= h0.hooks_failed + 1, `hooks_failed ${h0.hooks_failed} -> ${h1.hooks_failed}`);
            assert.ok(!ex.exit, `the example exited: ${JSON.stringify(ex.exit)}`);

            // The same session and a new one both keep working.
            const again = await publish(pub, '/chat/lobby', { text: 'still here' });
            assert.equal(again.successful, true, JSON.stringify(again));
            const fresh = await login(transport, `late-${t}-${uniq()}`);
            const r3 = await publish(fresh, '/chat/lobby', { text: 'newcomer' });
            assert.equal(r3.successful, true, JSON.stringify(r3));
            await waitFor(() => got.length >= 2, 'two deliveries after the throw', { timeout: WAIT });
            await sleep(SETTLE_MS);
            assert.deepEqual(got.map((d) => d.text), ['still here', 'newcomer'], `subscriber got ${JSON.stringify(got)}`);
          });
        });

        test('remoteCall("echo") answers with the data it was sent', async () => {
          await traced(async () => {
            const c = await login(transport, `echo-${t}-${uniq()}`);
            const payloads = [
              { n: 1, s: 'hello', list: [1, 2.5, null, true, 'x'], nested: { a: { b: [] } } },
              { unicode: 'zwölf 漢字 😀 "quoted" \\ \u2028', empty: {} },
              'a bare string',
              [3, 2, 1],
            ];
            const replies = await Promise.all(payloads.map((p) => remoteCall(c, 'echo', p)));
            replies.forEach((r, i) => {
              assert.equal(r.successful, true, `call ${i}: ${JSON.stringify(r)}`);
              assert.equal(r.channel, '/service/echo');
              assert.deepEqual(r.data, payloads[i], `call ${i}`);
            });
          });
        });

        test('remoteCall("whoami") names the user and counts its sessions (1, then 2, then 1)', async () => {
          await traced(async () => {
            const user = `carol-${t}-${uniq()}`;
            const first = await login(transport, user, 'carol-1');
            const w1 = await remoteCall(first, 'whoami', {});
            assert.equal(w1.successful, true, JSON.stringify(w1));
            assert.deepEqual(w1.data, { user, sessions: 1 });

            const second = await login(transport, user, 'carol-2');
            assert.notEqual(second.clientId(), first.clientId(), 'two sessions');
            for (const c of [first, second]) {
              const w = await remoteCall(c, 'whoami', {});
              assert.equal(w.successful, true, JSON.stringify(w));
              assert.deepEqual(w.data, { user, sessions: 2 }, `${c.name} asked`);
            }
            // Another user's sessions are not counted.
            const other = await login(transport, `dave-${t}-${uniq()}`);
            const wo = await remoteCall(other, 'whoami', {});
            assert.equal(wo.data.sessions, 1, JSON.stringify(wo));

            await close(second);
            await waitFor(
              async () => {
                const w = await remoteCall(first, 'whoami', {});
                return w.successful && w.data.sessions === 1;
              },
              'whoami to count 1 session after the second disconnected',
              { timeout: WAIT, interval: 100 },
            );
          });
        });
      });
    }

    test('SIGTERM stops the example with exit code 0 within 10 s', async () => {
      assert.ok(ex && !ex.exit, `the example is still running: ${JSON.stringify(ex && ex.exit)}\n${ex && ex.tail()}`);
      // A connected client must not hold the stop up.
      await login('long-polling', `last-${uniq()}`);
      process.kill(ex.pid, 'SIGTERM');
      const res = await within(ex.exited, 'exit after SIGTERM', 10000).catch(() => null);
      assert.ok(res, `the example did not exit within 10 s of SIGTERM\n${ex.tail()}`);
      assert.deepEqual(res, { code: 0, signal: null }, `exit after SIGTERM\n${ex.tail()}`);
      assert.doesNotMatch(ex.stderr, /AddressSanitizer|runtime error:|terminate called|Segmentation/, 'no crash report');
    });
  });
});
