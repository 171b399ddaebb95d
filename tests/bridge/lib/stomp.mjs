// The STOMP 1.2 client for the bridge tests. It lives in scripts/lib/stomp.mjs because the demo's
// price feed (scripts/price-feed.mjs) uses it too; this file only gives tests a stable import path.
export * from '../../../scripts/lib/stomp.mjs';
