import { call, query } from './api.js';
import { h, badge, kindWord, time, table, alertBox, field } from './ui.js';

const states = ['', 'PENDING', 'AWAITING_APPROVAL', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED'];

export function operationLink(op) {
  return h('a', { href: `#/operations/${encodeURIComponent(op.id)}` }, op.id);
}

export function operationRows(ops) {
  return ops.map((op) => [
    operationLink(op),
    kindWord(op.kind),
    badge(op.state),
    op.secret_id ? h('a', { href: `#/secrets/${encodeURIComponent(op.secret_id)}` }, op.secret_id) : '—',
    (op.regions || []).map((r) => r.region).join(', ') || '—',
    op.principal || '—',
    time(op.create_time),
  ]);
}

export const operationHeaders = ['Operation', 'Kind', 'State', 'Secret', 'Regions', 'Requested by', 'Created'];

export function operationsPage(q) {
  const main = document.getElementById('main');
  const state = q.get('state') || '';
  const secret = q.get('secret') || '';
  const tokens = (q.get('pages') || '').split(',').filter(Boolean);
  const stateSel = h('select', { id: 'f-state', name: 'state' },
    states.map((s) => h('option', { value: s, selected: s === state }, s ? s.replace('_', ' ').toLowerCase() : 'any state')));
  const secretIn = h('input', { id: 'f-secret', name: 'secret', type: 'text', value: secret, autocomplete: 'off', spellcheck: 'false' });
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter operations' },
    field('f-state', 'State', stateSel),
    field('f-secret', 'Secret (name or ARN)', secretIn),
    h('button', { type: 'submit' }, 'Filter'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const p = new URLSearchParams();
    if (stateSel.value) p.set('state', stateSel.value);
    if (secretIn.value.trim()) p.set('secret', secretIn.value.trim());
    location.hash = `#/operations?${p}`;
  });
  const out = h('div', { 'aria-live': 'polite', 'aria-busy': 'true' }, h('p', {}, 'Loading operations…'));
  main.append(h('h1', {}, 'Operations'), form, out);
  const page = tokens[tokens.length - 1] || '';
  call('GET', `v1/operations${query({ state, secret_id: secret, page_size: 25, page_token: page })}`)
    .then((res) => {
      const ops = res.operations || [];
      const nav = h('nav', { class: 'pager', 'aria-label': 'Pages' });
      const link = (list) => {
        const p = new URLSearchParams();
        if (state) p.set('state', state);
        if (secret) p.set('secret', secret);
        if (list.length) p.set('pages', list.join(','));
        return `#/operations?${p}`;
      };
      if (tokens.length) nav.append(h('a', { href: link(tokens.slice(0, -1)) }, '← Newer'));
      if (res.next_page_token) nav.append(h('a', { href: link([...tokens, res.next_page_token]) }, 'Older →'));
      out.replaceChildren(table('Operations, newest first', operationHeaders, operationRows(ops), 'No operations match.'), nav);
      out.setAttribute('aria-busy', 'false');
    })
    .catch((err) => {
      out.replaceChildren(alertBox(err, 'Could not list operations'));
      out.setAttribute('aria-busy', 'false');
    });
}
