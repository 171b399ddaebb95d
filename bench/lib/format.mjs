// Number formatting shared by the benchmark reports (bench/report.mjs, bench/bridge-report.mjs).

export const isNum = (v) => typeof v === 'number' && Number.isFinite(v);

/** 1234567 → "1,234,567"; "—" for a missing value. */
export function int(v) {
  if (!isNum(v)) return '—';
  return Math.round(v).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** `digits` significant digits (whole numbers keep every digit, with separators). */
export function sig(v, digits = 3) {
  if (!isNum(v)) return '—';
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 10 ** digits) return int(v);
  const decimals = Math.max(0, digits - 1 - Math.floor(Math.log10(a)));
  return v.toFixed(Math.min(decimals, 6));
}

/** Microseconds as milliseconds with 3 significant digits. */
export const ms = (us) => (isNum(us) ? `${sig(us / 1000)} ms` : '—');
