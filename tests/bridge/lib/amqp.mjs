// AMQP 1.0 test clients on the npm package `rhea` (an independent AMQP 1.0 implementation, so the
// bridge's Qpid Proton side talks to something other than itself). Every wait is bounded.
//
//   const c = await amqpConnect({ port });                 // SASL ANONYMOUS
//   const rx = await c.receiver('/queue/orders');           // resolves once the broker attached it
//   const m = await rx.next(5000);                          // a rhea message: body, content_type, ...
//   await c.send('/topic/prices.EURUSD', '{"bid":1}', { to: '/topic/prices.EURUSD' });   // waits for `accepted`
//   c.close();
import rhea from 'rhea';

function within(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms); }),
  ]).finally(() => clearTimeout(timer));
}

export async function amqpConnect({ host = '127.0.0.1', port, timeoutMs = 10000 } = {}) {
  const container = rhea.create_container({ id: `encke-test-${process.pid}-${Date.now()}` });
  const conn = container.connect({ host, port, reconnect: false, hostname: host });
  conn.on('error', () => {});
  conn.on('disconnected', () => {});
  await within(new Promise((resolve, reject) => {
    conn.once('connection_open', resolve);
    conn.once('connection_error', (ctx) => reject(ctx.connection.error || new Error('connection error')));
    conn.once('disconnected', (ctx) => reject(ctx.error || new Error('disconnected')));
  }), timeoutMs, `AMQP connection to ${host}:${port}`);

  return {
    async receiver(address, { durable = false } = {}) {
      const queue = [];
      const waiters = [];
      const link = conn.open_receiver({ source: { address, durable: durable ? 2 : 0 }, credit_window: 100 });
      link.on('message', (ctx) => {
        const w = waiters.shift();
        if (w) w(ctx.message); else queue.push(ctx.message);
      });
      await within(new Promise((resolve, reject) => {
        link.once('receiver_open', resolve);
        link.once('receiver_error', (ctx) => reject(ctx.receiver.error || new Error('receiver refused')));
      }), timeoutMs, `receiver on ${address}`);
      return {
        next(ms = 10000) {
          if (queue.length) return Promise.resolve(queue.shift());
          return within(new Promise((resolve) => waiters.push(resolve)), ms, `a message on ${address}`);
        },
        close() { link.close(); },
      };
    },
    async send(address, body, props = {}) {
      const sender = conn.open_sender({ target: { address } });
      await within(new Promise((resolve, reject) => {
        sender.once('sendable', resolve);
        sender.once('sender_error', (ctx) => reject(ctx.sender.error || new Error('sender refused')));
      }), timeoutMs, `sender on ${address}`);
      const d = sender.send({ body, content_type: 'application/json', ...props });
      await within(new Promise((resolve, reject) => {
        sender.once('accepted', resolve);
        sender.once('rejected', (ctx) => reject(new Error(`rejected: ${JSON.stringify(ctx.delivery.remote_state)}`)));
        sender.once('released', () => reject(new Error('released')));
      }), timeoutMs, `the disposition of ${d.id}`);
      sender.close();
    },
    close() { conn.close(); },
  };
}
