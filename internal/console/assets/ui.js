// DOM helpers. Elements are built with createElement and textContent,
// never from HTML strings: whatever the API returns is shown as text.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = Boolean(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

export const readOnly = () => document.body.dataset.readOnly === 'true';
export const allowedRegions = () => (document.body.dataset.regions || '').split(',').filter(Boolean);
export const defaultRegion = () => document.body.dataset.defaultRegion || '';

// Statuses read without colour: each has an icon and a word; the colour
// only repeats them.
const looks = {
  SUCCEEDED: ['✓', 'Succeeded', 'ok'],
  FAILED: ['✗', 'Failed', 'bad'],
  CANCELLED: ['⊘', 'Cancelled', 'muted'],
  PENDING: ['…', 'Pending', 'wait'],
  RUNNING: ['↻', 'Running', 'busy'],
  AWAITING_APPROVAL: ['⏸', 'Awaiting approval', 'wait'],
  SKIPPED: ['–', 'Skipped (nothing to do)', 'muted'],
  NOT_ATTEMPTED: ['–', 'Not attempted (nothing changed)', 'muted'],
  IN_SYNC: ['✓', 'InSync', 'ok'],
  IN_PROGRESS: ['↻', 'InProgress', 'busy'],
  OK: ['✓', 'OK', 'ok'],
};

// badge shows an enum value (OPERATION_STATE_SUCCEEDED, REGION_STATE_...,
// REPLICATION_STATUS_IN_SYNC) as icon and word.
export function badge(value) {
  const short = shortEnum(value);
  const [icon, word, tone] = looks[short] || ['•', short ? title(short) : 'Unknown', 'muted'];
  return h('span', { class: `badge ${tone}` }, h('span', { 'aria-hidden': 'true' }, icon), ' ', word);
}

export function shortEnum(value) {
  if (!value) return '';
  return String(value).replace(/^(OPERATION_STATE|REGION_STATE|REPLICATION_STATUS|OPERATION_KIND|AUDIT_EVENT_KIND)_/, '');
}

export function title(s) {
  const w = String(s).toLowerCase().replace(/_/g, ' ');
  return w.charAt(0).toUpperCase() + w.slice(1);
}

export function kindWord(kind) {
  return title(shortEnum(kind) || 'unknown');
}

export function time(ts) {
  if (!ts) return '—';
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return ts;
  return h('time', { datetime: d.toISOString() }, d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC').replace(/Z$/, ' UTC'));
}

export function table(caption, headers, rows, empty) {
  if (!rows.length) return h('p', { class: 'empty' }, empty || 'Nothing to show.');
  return h('div', { class: 'table-wrap', role: 'region', 'aria-label': caption, tabindex: '0' },
    h('table', {},
      h('caption', {}, caption),
      h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col' }, x)))),
      h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c, i) => (i === 0 ? h('th', { scope: 'row' }, c) : h('td', {}, c))))))));
}

// alertBox shows an API error in words.
export function alertBox(err, what) {
  const lines = [h('p', { class: 'alert-title' }, h('span', { 'aria-hidden': 'true' }, '⚠ '), what ? `${what}: ` : '', err.words || err.message)];
  return h('div', { class: 'alert', role: 'alert' }, lines);
}

export function announce(text) {
  const el = document.getElementById('announce');
  if (el) el.textContent = text;
}

export function field(id, labelText, input, help) {
  const helpId = help ? `${id}-help` : undefined;
  if (helpId) input.setAttribute('aria-describedby', helpId);
  return h('div', { class: 'field', 'data-field-for': id },
    h('label', { for: id }, labelText),
    help ? h('p', { class: 'help', id: helpId }, help) : null,
    input);
}

// uuid is a request_id for AIP-155 idempotency: submitting the same form
// twice answers the same operation.
export function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = [...b].map((v) => v.toString(16).padStart(2, '0')).join('');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

// dialog opens a modal <dialog> (Esc closes it; focus stays inside) and
// resolves when it closes.
export function openDialog(content) {
  const dlg = h('dialog', { 'aria-labelledby': 'dialog-title' }, content);
  document.body.appendChild(dlg);
  dlg.addEventListener('close', () => dlg.remove());
  dlg.showModal();
  return dlg;
}
