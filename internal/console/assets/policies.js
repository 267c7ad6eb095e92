import { call, seg, query } from './api.js';
import { h, badge, time, table, alertBox, title, shortEnum } from './ui.js';
import { focusHeading } from './app.js';

function unavailable(err) {
  return err.httpStatus === 404 || err.code === 'UNIMPLEMENTED';
}

function modeWord(mode) {
  return title(String(mode || '').replace(/^POLICY_MODE_/, '') || 'unknown');
}

function duration(d) {
  if (!d) return '—';
  const s = parseFloat(String(d).replace(/s$/, ''));
  if (Number.isNaN(s)) return d;
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

// policiesPage lists the replication policies (PolicyService).
export function policiesPage(q) {
  const main = document.getElementById('main');
  const out = h('div', { 'aria-busy': 'true' }, h('p', {}, 'Loading policies…'));
  main.append(h('h1', {}, 'Replication policies'), out);
  focusHeading();
  const tokens = (q.get('pages') || '').split(',').filter(Boolean);
  call('GET', `v1/policies${query({ page_size: 50, page_token: tokens[tokens.length - 1] || '' })}`)
    .then((res) => {
      const statusCells = new Map();
      const rows = (res.policies || []).map((p) => {
        const cell = h('span', { 'data-status-of': p.name, class: 'muted' }, 'checking…');
        statusCells.set(p.name, cell);
        return [
          h('a', { href: `#/policies/${encodeURIComponent(p.name)}` }, p.name),
          modeWord(p.mode),
          cell,
          (p.replicas || []).map((r) => r.region).join(', ') || '—',
          selectorWords(p.selector),
          p.updated_by || '—',
          time(p.update_time),
        ];
      });
      const nav = h('nav', { class: 'pager', 'aria-label': 'Pages' });
      if (tokens.length) nav.append(h('a', { href: `#/policies?pages=${tokens.slice(0, -1).join(',')}` }, '← Previous'));
      if (res.next_page_token) nav.append(h('a', { href: `#/policies?pages=${[...tokens, res.next_page_token].join(',')}` }, 'Next →'));
      out.replaceChildren(table('Replication policies', ['Policy', 'Mode', 'Compliance', 'Desired Regions', 'Selects', 'Updated by', 'Updated'], rows, 'No policies.'), nav);
      out.setAttribute('aria-busy', 'false');
      fillStatuses(statusCells);
    })
    .catch((err) => {
      out.setAttribute('aria-busy', 'false');
      out.replaceChildren(unavailable(err) ? h('p', { class: 'empty' }, 'This server has no replication policies.') : alertBox(err, 'Could not list policies'));
    });
}

// fillStatuses reads each listed policy's status, two at a time: each
// is computed over the inventory, so the page never asks for them all at
// once.
async function fillStatuses(cells) {
  const queue = [...cells];
  const worker = async () => {
    while (queue.length) {
      const [name, cell] = queue.shift();
      try {
        const st = (await call('GET', `v1/policies/${seg(name)}/status`)).status || {};
        cell.className = '';
        cell.replaceChildren(st.compliant_all ? badge('SUCCEEDED') : badge('FAILED'),
          st.compliant_all ? ` all ${st.selected || 0} comply` : ` ${st.compliant || 0} of ${st.selected || 0} comply`,
          st.in_conflict ? `, ${st.in_conflict} in conflict` : '');
      } catch (err) {
        cell.className = '';
        cell.replaceChildren(err.words || err.message);
      }
    }
  };
  await Promise.all([worker(), worker()]);
}

function selectorWords(s) {
  if (!s) return '—';
  if (s.select_all) return 'every secret';
  const parts = [];
  if ((s.name_globs || []).length) parts.push(`names ${s.name_globs.join(', ')}`);
  if ((s.exclude_name_globs || []).length) parts.push(`except ${s.exclude_name_globs.join(', ')}`);
  if ((s.primary_regions || []).length) parts.push(`primaries in ${s.primary_regions.join(', ')}`);
  if (Object.keys(s.tags || {}).length) parts.push(`tags ${Object.entries(s.tags).map(([k, v]) => (v ? `${k}=${v}` : k)).join(', ')}`);
  if ((s.accounts || []).length) parts.push(`${s.accounts.length} account(s)`);
  return parts.join('; ') || '—';
}

// policyPage shows one policy, its status and, on request, its plan: what
// enforcing it would do now (a POST that changes nothing).
export function policyPage(name) {
  const main = document.getElementById('main');
  const facts = h('div', { 'aria-busy': 'true' }, h('p', {}, 'Loading…'));
  const status = h('div', { id: 'policy-status', 'aria-busy': 'true' });
  const planOut = h('div', { id: 'policy-plan', 'aria-live': 'polite' });
  const planBtn = h('button', { type: 'button', id: 'plan' }, 'Show the plan');
  main.append(h('h1', {}, 'Policy ', h('code', {}, name)), facts, h('h2', {}, 'Status'), status, h('h2', {}, 'Plan'),
    h('p', { class: 'help' }, 'What enforcing the policy would do now, computed from the inventory. Nothing is changed.'), planBtn, planOut);
  focusHeading();
  call('GET', `v1/policies/${seg(name)}`).then((res) => {
    const p = res.policy;
    facts.setAttribute('aria-busy', 'false');
    facts.replaceChildren(h('dl', { class: 'facts' },
      h('dt', {}, 'Mode'), h('dd', {}, modeWord(p.mode)),
      h('dt', {}, 'Selects'), h('dd', {}, selectorWords(p.selector)),
      h('dt', {}, 'Desired replicas'), h('dd', {}, (p.replicas || []).map((r) => `${r.region}${r.kms_key_id ? ` (${r.kms_key_id})` : ''}`).join(', ') || '—'),
      h('dt', {}, 'Retries failed replicas'), h('dd', {}, p.retry_failed ? 'Yes' : 'No'),
      h('dt', {}, 'Force overwrite'), h('dd', {}, p.force_overwrite ? 'Yes' : 'No'),
      h('dt', {}, 'Prunes extra Regions'), h('dd', {}, p.prune ? 'Yes' : 'No'),
      h('dt', {}, 'Updated'), h('dd', {}, time(p.update_time), p.updated_by ? ` by ${p.updated_by}` : '')));
  }).catch((err) => {
    facts.setAttribute('aria-busy', 'false');
    facts.replaceChildren(alertBox(err, 'Could not read the policy'));
  });
  call('GET', `v1/policies/${seg(name)}/status`).then((res) => {
    const st = res.status || {};
    status.setAttribute('aria-busy', 'false');
    const drifted = Object.entries(st.drifted || {});
    status.replaceChildren(
      h('p', { id: 'compliance' }, st.compliant_all ? badge('SUCCEEDED') : badge('FAILED'),
        st.compliant_all ? ' Every selected secret complies.' : ` ${st.compliant || 0} of ${st.selected || 0} selected secrets comply.`),
      h('dl', { class: 'facts' },
        h('dt', {}, 'Selected'), h('dd', {}, String(st.selected || 0)),
        h('dt', {}, 'Compliant'), h('dd', {}, String(st.compliant || 0)),
        h('dt', {}, 'Drifted'), h('dd', {}, drifted.length ? drifted.map(([k, v]) => `${title(k.replace(/^DRIFT_KIND_/, ''))}: ${v}`).join(', ') : 'none'),
        h('dt', {}, 'In conflict with another policy'), h('dd', {}, String(st.in_conflict || 0)),
        h('dt', {}, 'Cannot be fixed'), h('dd', {}, String(st.unfixable || 0)),
        h('dt', {}, 'Operations'), h('dd', {}, `${st.operations_pending || 0} pending, ${st.operations_running || 0} running, ${st.operations_failed || 0} failed, ${st.operations_succeeded || 0} succeeded`),
        h('dt', {}, 'Time to compliance (estimate)'), h('dd', {}, duration(st.estimated_time_to_compliance)),
        h('dt', {}, 'As of'), h('dd', {}, time(st.read_time))));
  }).catch((err) => {
    status.setAttribute('aria-busy', 'false');
    status.replaceChildren(alertBox(err, 'Could not read the status'));
  });
  planBtn.addEventListener('click', async () => {
    planBtn.disabled = true;
    planOut.replaceChildren(h('p', {}, 'Planning…'));
    try {
      const res = await call('POST', 'v1/policies:plan', { name, max_secrets: 100 });
      planOut.replaceChildren(planView(res));
    } catch (err) {
      planOut.replaceChildren(alertBox(err, 'No plan'));
    } finally {
      planBtn.disabled = false;
    }
  });
}

function planView(p) {
  const rows = (p.secrets || []).map((s) => [
    s.name || s.arn,
    s.primary_region || '—',
    (s.drifts || []).map((d) => `${title(String(d.kind).replace(/^DRIFT_KIND_/, ''))}${d.region ? ` in ${d.region}` : ''}`).join('; ') || 'none',
    (s.operations || []).map((o) => `${title(shortEnum(o.kind))} ${(o.regions || []).map((r) => r.region).join(', ')}${o.force_overwrite ? ' (force overwrite)' : ''}`).join('; ') || 'nothing',
    s.in_conflict ? h('span', { class: 'badge bad' }, h('span', { 'aria-hidden': 'true' }, '✗ '), `Conflicts with ${(s.conflicting_policies || []).join(', ')}`) : '—',
  ]);
  return h('section', { class: 'plan', 'aria-labelledby': 'pplan-h' },
    h('h3', { id: 'pplan-h' }, 'Plan'),
    h('p', {}, `${p.selected || 0} secrets selected, ${p.compliant || 0} compliant, ${p.in_conflict || 0} in conflict: ${p.operation_count || 0} operations, ${p.write_calls || 0} AWS write calls, about ${duration(p.estimated_time_to_compliance)} to compliance.`),
    (p.warnings || []).length ? h('ul', {}, p.warnings.map((w) => h('li', { class: 'warning' }, w))) : null,
    table('Secrets the plan would change', ['Secret', 'Primary Region', 'Drift', 'Operations', 'Conflict'], rows, 'Nothing to change.'));
}
