import { call, seg, query } from './api.js';
import { h, badge, table, alertBox, allowedRegions, field } from './ui.js';
import { focusHeading } from './app.js';

// drPage answers "if Region A went down, could we fail over to B?": the
// readiness of every secret with its primary in A to be promoted in B.
export function drPage(q) {
  const main = document.getElementById('main');
  const regions = allowedRegions();
  const sel = (id, value) => h('select', { id, name: id }, regions.map((r) => h('option', { value: r, selected: r === value }, r)));
  const from = sel('dr-region', q.get('region') || regions[0]);
  const to = sel('dr-target', q.get('target') || regions[1] || regions[0]);
  const form = h('form', { class: 'filters', 'aria-label': 'Choose the Regions' },
    field('dr-region', 'If this Region fails', from),
    field('dr-target', 'Fail over to', to),
    h('button', { type: 'submit' }, 'Check readiness'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    location.hash = `#/dr?${new URLSearchParams({ region: from.value, target: to.value })}`;
  });
  const out = h('div', { id: 'readiness' });
  main.append(h('h1', {}, 'Disaster-recovery readiness'), form, out);
  focusHeading();
  if (!q.get('region') || !q.get('target')) {
    out.append(h('p', { class: 'empty' }, 'Choose a Region and where its secrets would fail over to.'));
    return;
  }
  out.setAttribute('aria-busy', 'true');
  out.append(h('p', {}, 'Checking…'));
  call('GET', `v1/regions/${seg(q.get('region'))}/readiness${query({ target: q.get('target') })}`)
    .then((r) => {
      out.setAttribute('aria-busy', 'false');
      const total = r.total || 0;
      const ready = r.ready || 0;
      const list = (xs) => xs.map((s) => [
        h('a', { href: `#/secrets/${encodeURIComponent(s.secret_id)}` }, s.secret_id),
        s.status && s.status !== 'REPLICATION_STATUS_UNSPECIFIED' ? badge(s.status) : 'no replica',
        s.message || '—']);
      out.replaceChildren(
        h('p', { id: 'readiness-summary', class: `badge-line ${ready === total ? 'ok' : 'bad'}` },
          h('span', { 'aria-hidden': 'true' }, ready === total ? '✓ ' : '✗ '),
          `${ready} of ${total} secrets with their primary in ${q.get('region')} have an InSync replica in ${q.get('target')}.`),
        h('h2', {}, 'Replica not InSync'),
        table(`Secrets whose replica in ${q.get('target')} is not InSync`, ['Secret', 'Replica status', 'AWS message'], list(r.not_in_sync || []), 'None.'),
        h('h2', {}, 'No replica'),
        table(`Secrets with no replica in ${q.get('target')}`, ['Secret', 'Replica status', 'AWS message'], list(r.no_replica || []), 'None.'));
    })
    .catch((err) => {
      out.setAttribute('aria-busy', 'false');
      out.replaceChildren(err.httpStatus === 404 && /no such path/.test(err.message)
        ? h('p', { class: 'empty' }, 'This server has no disaster-recovery readiness API.')
        : alertBox(err, 'Could not check readiness'));
    });
}
