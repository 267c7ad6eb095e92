import { call, query, codeName, codeInWords } from './api.js';
import { h, time, table, alertBox, field, shortEnum, title } from './ui.js';

const kinds = ['', 'RPC', 'AWS_CALL', 'APPROVAL', 'BREAK_GLASS'];
const filters = [
  ['principal', 'Principal'],
  ['secret_id', 'Secret (name or ARN)'],
  ['method', 'Method (Replicate, or an AWS API name)'],
  ['outcome', 'Outcome (OK or a code such as PERMISSION_DENIED)'],
  ['operation_id', 'Operation id'],
];

// auditPage lists audit events with filters, and verifies the hash chain
// on request (a walk of the whole chain: not on every page load).
export function auditPage(q) {
  const main = document.getElementById('main');
  const inputs = {};
  const fields = filters.map(([name, label]) => {
    inputs[name] = h('input', { id: `a-${name}`, name, type: 'text', value: q.get(name) || '', autocomplete: 'off', spellcheck: 'false' });
    return field(`a-${name}`, label, inputs[name]);
  });
  inputs.kind = h('select', { id: 'a-kind', name: 'kind' }, kinds.map((k) => h('option', { value: k, selected: k === (q.get('kind') || '') }, k ? title(k) : 'any kind')));
  inputs.start_time = h('input', { id: 'a-start', name: 'start_time', type: 'datetime-local', step: '1', value: toLocal(q.get('start_time')) });
  inputs.end_time = h('input', { id: 'a-end', name: 'end_time', type: 'datetime-local', step: '1', value: toLocal(q.get('end_time')) });
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter audit events' },
    fields,
    field('a-kind', 'Kind', inputs.kind),
    field('a-start', 'From (your local time)', inputs.start_time),
    field('a-end', 'Until (your local time)', inputs.end_time),
    h('button', { type: 'submit' }, 'Filter'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const p = new URLSearchParams();
    for (const [name, el] of Object.entries(inputs)) {
      let v = el.value.trim();
      if (v && (name === 'start_time' || name === 'end_time')) v = new Date(v).toISOString();
      if (v) p.set(name, v);
    }
    location.hash = `#/audit?${p}`;
  });

  const verifyOut = h('div', { id: 'verify-status', 'aria-live': 'polite' }, h('p', {}, 'The chain has not been verified on this page yet.'));
  const verifyBtn = h('button', { type: 'button', id: 'verify' }, 'Verify the hash chain');
  verifyBtn.addEventListener('click', async () => {
    verifyBtn.disabled = true;
    verifyOut.replaceChildren(h('p', {}, 'Verifying…'));
    try {
      const r = await call('POST', 'v1/audit:verify', {});
      verifyOut.replaceChildren(verifyView(r));
    } catch (err) {
      verifyOut.replaceChildren(alertBox(err, 'Could not verify'));
    } finally {
      verifyBtn.disabled = false;
    }
  });

  const out = h('div', { 'aria-busy': 'true' }, h('p', {}, 'Loading events…'));
  main.append(h('h1', {}, 'Audit trail'),
    h('section', { class: 'verify', 'aria-labelledby': 'verify-h' }, h('h2', { id: 'verify-h' }, 'Chain verification'), verifyBtn, verifyOut),
    h('h2', {}, 'Events'), form, out);

  const tokens = (q.get('pages') || '').split(',').filter(Boolean);
  const params = {};
  for (const [name] of filters) params[name] = q.get(name) || '';
  params.kind = q.get('kind') || '';
  params.start_time = q.get('start_time') || '';
  params.end_time = q.get('end_time') || '';
  call('GET', `v1/audit/events${query({ ...params, page_size: 50, page_token: tokens[tokens.length - 1] || '' })}`)
    .then((res) => {
      const link = (list) => {
        const p = new URLSearchParams(q);
        if (list.length) p.set('pages', list.join(',')); else p.delete('pages');
        return `#/audit?${p}`;
      };
      const nav = h('nav', { class: 'pager', 'aria-label': 'Pages' });
      if (tokens.length) nav.append(h('a', { href: link(tokens.slice(0, -1)) }, '← Newer'));
      if (res.next_page_token) nav.append(h('a', { href: link([...tokens, res.next_page_token]) }, 'Older →'));
      const rows = (res.events || []).map((e) => [
        time(e.time),
        title(shortEnum(e.kind)),
        e.principal || '—',
        (e.method || '').replace(/^\/replicad\.v1\.\w+\//, ''),
        e.secret || '—',
        outcome(e),
        e.operation_id ? h('a', { href: `#/operations/${encodeURIComponent(e.operation_id)}` }, e.operation_id) : '—',
        e.aws_request_id ? h('code', {}, e.aws_request_id) : '—',
        e.chain_position && e.chain_position !== '0' ? String(e.chain_position) : 'not yet chained',
      ]);
      out.replaceChildren(table('Audit events, newest first',
        ['Time', 'Kind', 'Principal', 'Method', 'Secret', 'Outcome', 'Operation', 'AWS request id', 'Chain position'], rows, 'No events match.'), nav);
      out.setAttribute('aria-busy', 'false');
    })
    .catch((err) => {
      out.replaceChildren(alertBox(err, 'Could not list events'));
      out.setAttribute('aria-busy', 'false');
    });
}

function outcome(e) {
  if (e.aws_error_code) return h('span', { class: 'badge bad' }, h('span', { 'aria-hidden': 'true' }, '✗ '), e.aws_error_code);
  const code = e.code || 0;
  if (!code) return h('span', { class: 'badge ok' }, h('span', { 'aria-hidden': 'true' }, '✓ '), 'OK');
  return h('span', { class: 'badge bad', title: e.message || '' }, h('span', { 'aria-hidden': 'true' }, '✗ '), `${codeName(code)}: ${codeInWords(code)}`);
}

function verifyView(r) {
  if (r.ok) {
    return h('p', { class: 'badge-line ok', id: 'verify-result' }, h('span', { 'aria-hidden': 'true' }, '✓ '),
      `Chain intact: ${r.verified || 0} events verified`,
      r.head_position ? `, up to position ${r.head_position} (head hash ${String(r.head_hash || '').slice(0, 16)}…)` : '',
      r.unchained && r.unchained !== '0' ? `; ${r.unchained} recent events not chained yet` : '',
      r.anchors && r.anchors !== '0' ? `; ${r.anchors} retention anchors checked` : '', '.');
  }
  const b = r.first_break || {};
  return h('p', { class: 'badge-line bad', id: 'verify-result', role: 'alert' }, h('span', { 'aria-hidden': 'true' }, '✗ '),
    `Chain broken at position ${b.position || '?'}: ${b.reason || 'unknown reason'}`, b.event_id ? ` (event ${b.event_id})` : '', '.');
}

function toLocal(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const off = d.getTimezoneOffset() * 60000;
  return new Date(d.getTime() - off).toISOString().slice(0, 19);
}
