import { call, seg, query } from './api.js';
import { h, badge, time, table, alertBox, readOnly, openDialog, uuid, announce, field, allowedRegions, title, shortEnum } from './ui.js';
import { operationRows, operationHeaders } from './operations.js';
import { focusHeading } from './app.js';

const replicaStatuses = ['', 'IN_SYNC', 'IN_PROGRESS', 'FAILED'];
const driftKinds = ['', 'MISSING_REGION', 'FAILED_REPLICA', 'KMS_KEY_DIFFERS', 'EXTRA_REGION', 'UNEXPECTED_PRIMARY', 'SCHEDULED_FOR_DELETION'];
const pageSize = 50;

// secretsPage is the inventory (InventoryService.ListSecrets), filtered and
// paged by the server, never the whole fleet in the page; and a lookup of
// any secret by name or ARN, read live from AWS.
export function secretsPage(q) {
  const main = document.getElementById('main');
  const input = h('input', { id: 'lookup', type: 'text', required: true, autocomplete: 'off', spellcheck: 'false' });
  const lookup = h('form', { class: 'filters', role: 'search', 'aria-label': 'Find a secret' },
    field('lookup', 'Secret name or ARN', input),
    h('button', { type: 'submit' }, 'Show replication'));
  lookup.addEventListener('submit', (e) => {
    e.preventDefault();
    if (input.value.trim()) location.hash = `#/secrets/${encodeURIComponent(input.value.trim())}`;
  });

  const text = (name, label) => {
    const el = h('input', { id: `s-${name}`, name, type: 'text', value: q.get(name) || '', autocomplete: 'off', spellcheck: 'false' });
    return [name, el, field(`s-${name}`, label, el)];
  };
  const select = (name, label, values, words) => {
    const el = h('select', { id: `s-${name}`, name }, values.map((v) => h('option', { value: v, selected: v === (q.get(name) || '') }, v ? words(v) : 'any')));
    return [name, el, field(`s-${name}`, label, el)];
  };
  const regions = ['', ...allowedRegions()];
  const controls = [
    text('name_prefix', 'Name starts with'),
    text('account', 'Account'),
    select('primary_region', 'Primary Region', regions, (v) => v),
    select('replica_region', 'Replica Region', regions, (v) => v),
    select('replica_status', 'Replica status', replicaStatuses, (v) => title(v)),
    select('drift', 'Drift', ['', 'DRIFTED', 'COMPLIANT'], (v) => title(v)),
    select('drift_kind', 'Kind of drift', driftKinds, (v) => title(v)),
    text('tag', 'Tag (key or key=value)'),
  ];
  const gone = h('input', { type: 'checkbox', id: 's-show_gone', checked: q.get('show_gone') === 'true' });
  const filters = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter the inventory' },
    controls.map((c) => c[2]),
    h('div', { class: 'field check' }, gone, h('label', { for: 's-show_gone' }, 'Include gone secrets')),
    h('button', { type: 'submit', id: 'filter' }, 'Filter'));
  filters.addEventListener('submit', (e) => {
    e.preventDefault();
    const p = new URLSearchParams();
    for (const [name, el] of controls) if (el.value.trim()) p.set(name, el.value.trim());
    if (gone.checked) p.set('show_gone', 'true');
    location.hash = `#/secrets?${p}`;
  });

  const counts = h('p', { id: 'inventory-counts', class: 'counts' });
  const out = h('div', { id: 'inventory', 'aria-busy': 'true' }, h('p', {}, 'Loading the inventory…'));
  main.append(h('h1', {}, 'Secrets'), lookup, h('h2', {}, 'Inventory'), filters, counts, out);
  focusHeading();

  const tokens = (q.get('pages') || '').split(',').filter(Boolean);
  const params = { page_size: pageSize, page_token: tokens[tokens.length - 1] || '' };
  for (const [name] of controls) params[name] = q.get(name) || '';
  if (params.replica_status) params.replica_status = `REPLICATION_STATUS_${params.replica_status}`;
  if (params.drift) params.drift = `DRIFT_FILTER_${params.drift}`;
  if (q.get('show_gone') === 'true') params.show_gone = 'true';
  call('GET', `v1/secrets${query(params)}`)
    .then((res) => {
      const secrets = res.secrets || [];
      const link = (list) => {
        const p = new URLSearchParams(q);
        if (list.length) p.set('pages', list.join(',')); else p.delete('pages');
        return `#/secrets?${p}`;
      };
      const nav = h('nav', { class: 'pager', 'aria-label': 'Pages' });
      if (tokens.length) nav.append(h('a', { href: link(tokens.slice(0, -1)) }, '← Previous'));
      if (res.next_page_token) nav.append(h('a', { href: link([...tokens, res.next_page_token]) }, 'Next →'));
      // The server counts what matches across every page (total_size,
      // only secrets this caller may read); the rest counts what this page
      // shows, since the page never holds the whole fleet.
      const total = Number(res.total_size || 0);
      let replicas = 0; let failed = 0; let deleting = 0;
      const accounts = new Set();
      for (const s of secrets) {
        replicas += (s.replicas || []).length;
        failed += (s.replicas || []).filter((r) => shortEnum(r.status) === 'FAILED').length;
        if (s.scheduled_for_deletion) deleting++;
        if (s.account) accounts.add(s.account);
      }
      const n = (k, one, many) => `${k} ${k === 1 ? one : many}`;
      const parts = [
        total > secrets.length
          ? h('span', { class: 'count', id: 'inventory-total' }, h('strong', {}, n(total.toLocaleString('en-US'), 'secret', 'secrets')), ` match, ${secrets.length} on page ${tokens.length + 1}`)
          : h('span', { class: 'count', id: 'inventory-total' }, h('strong', {}, n(secrets.length, 'secret', 'secrets')), tokens.length ? ` on page ${tokens.length + 1}` : ''),
        h('span', { class: 'count' }, h('strong', {}, n(accounts.size, 'account', 'accounts')), total > secrets.length ? ' on this page' : ''),
        h('span', { class: 'count' }, h('strong', {}, n(replicas, 'replica', 'replicas'))),
        h('span', { class: `count${failed ? ' bad' : ''}` }, failed ? h('span', { 'aria-hidden': 'true' }, '✗ ') : null, h('strong', {}, n(failed, 'failed replica', 'failed replicas'))),
        h('span', { class: 'count' }, h('strong', {}, String(deleting)), ' scheduled for deletion'),
        res.next_page_token ? h('span', { class: 'count' }, 'more on the next pages') : null].filter(Boolean);
      counts.replaceChildren(...parts.flatMap((p, i) => (i ? [' · ', p] : [p])));
      const rows = secrets.map((s) => [
        h('a', { href: `#/secrets/${encodeURIComponent(s.arn)}` }, s.name),
        s.account || '—',
        s.primary_region || '—',
        (s.replicas || []).length
          ? h('ul', { class: 'plain' }, s.replicas.map((r) => h('li', {}, `${r.region} `, r.status ? badge(r.status) : '—')))
          : 'none',
        s.kms_key_id || 'aws/secretsmanager',
        driftSummary(s),
        [s.scheduled_for_deletion ? h('span', { class: 'badge bad' }, h('span', { 'aria-hidden': 'true' }, '✗ '), 'Scheduled for deletion') : null,
          s.gone ? h('span', { class: 'badge muted' }, h('span', { 'aria-hidden': 'true' }, '⊘ '), 'Gone') : null],
        time(s.read_time || s.last_seen_time),
      ]);
      out.replaceChildren(table('Inventory, by account, Region and ARN',
        ['Secret', 'Account', 'Primary Region', 'Replicas (AWS status)', 'Primary KMS key', 'Policy and drift', 'Flags', 'Read from AWS'], rows, 'No secrets match.'), nav);
      out.setAttribute('aria-busy', 'false');
    })
    .catch((err) => {
      out.setAttribute('aria-busy', 'false');
      if (err.httpStatus === 404 || err.code === 'UNIMPLEMENTED') {
        out.replaceChildren(h('p', { class: 'empty' }, 'This server has no inventory to list; look a secret up by name or ARN above.'));
      } else {
        const without = new URLSearchParams(q);
        without.delete('drift'); without.delete('drift_kind'); without.delete('pages');
        const drifting = params.drift || params.drift_kind;
        out.replaceChildren(alertBox(err, 'Could not list the inventory'),
          drifting ? h('p', {}, h('a', { href: `#/secrets?${without}` }, 'List the inventory without the drift filters')) : '');
      }
    });
}

// driftSummary is an inventory row's policy and kinds of drift, where
// the server lists them (policy, drift_kinds, in_conflict, drift_time);
// "—" where it does not say.
function driftSummary(s) {
  if (s.in_conflict) return h('span', { class: 'badge bad' }, h('span', { 'aria-hidden': 'true' }, '✗ '), 'Policies in conflict');
  if (!s.policy) return s.drift_time ? 'no policy' : '—';
  const kinds = s.drift_kinds || [];
  return [h('a', { href: `#/policies/${encodeURIComponent(s.policy)}` }, s.policy), ' ',
    kinds.length ? kinds.map((k) => driftBadge({ kind: k })) : h('span', {}, h('span', { 'aria-hidden': 'true' }, '✓ '), 'complies')];
}

// secretPage shows a secret's replication as AWS reports it (live, with
// DescribeSecret), a table per Region with the drift from the policy that
// selects the secret shown apart from AWS's status, its recent operations
// and the Replicate, Remove and Promote actions.
export function secretPage(id) {
  const main = document.getElementById('main');
  const out = h('div', { id: 'secret', 'aria-busy': 'true' }, h('p', {}, 'Reading the secret from AWS…'));
  const errors = h('div', {});
  main.append(h('h1', {}, 'Secret ', h('code', {}, id)), errors, out);
  focusHeading();
  call('GET', `v1/secrets/${seg(id)}/replication${query({ recent_operations: 10 })}`)
    .catch((err) => fromInventory(id, err))
    .then((s) => {
      render(out, id, s, null, errors);
      return policyAndDrift(s).then((pd) => render(out, id, s, pd, errors));
    })
    .catch((err) => {
      out.replaceChildren(alertBox(err, 'Could not read the secret'));
    })
    .finally(() => out.setAttribute('aria-busy', 'false'));
}

// fromInventory is the secret as the inventory last read it, when AWS
// cannot be read now (its Region down, the secret out of reach of this
// server's credentials): the page says so and shows that reading, with
// its time. Without an inventory row the AWS error stands.
async function fromInventory(id, awsErr) {
  let res;
  try {
    res = await call('GET', `v1/secrets/${seg(id)}${query({ recent_operations: 10 })}`);
  } catch {
    throw awsErr;
  }
  const inv = res.secret || {};
  return {
    arn: inv.arn, name: inv.name, primary_region: inv.primary_region, replicas: inv.replicas || [],
    recent_operations: res.recent_operations || [], stale: { err: awsErr, read_time: inv.read_time || inv.last_seen_time },
  };
}

// Drift badges look unlike AWS's status badges (a different icon and an
// outline): drift is replicad's comparison with a policy, AWS's status is
// AWS's own word on the replica.
function driftBadge(d) {
  return h('span', { class: 'badge drift', 'data-drift': shortDrift(d.kind) },
    h('span', { 'aria-hidden': 'true' }, '≠'), ' ', driftWords(d));
}

function shortDrift(kind) {
  return String(kind || '').replace(/^DRIFT_KIND_/, '');
}

function driftWords(d) {
  const k = shortDrift(d.kind);
  const words = {
    MISSING_REGION: 'Missing Region',
    FAILED_REPLICA: 'Failed replica',
    KMS_KEY_DIFFERS: 'KMS key differs',
    EXTRA_REGION: 'Extra Region',
    UNEXPECTED_PRIMARY: 'Unexpected primary Region',
    SCHEDULED_FOR_DELETION: 'Scheduled for deletion',
  }[k] || title(k);
  return d.message ? `${words}: ${d.message}` : words;
}

function render(out, id, s, pd, errors) {
  const rw = !readOnly();
  const regional = new Map();
  const drifts = (pd && pd.drifts) || [];
  for (const d of drifts) {
    if (!d.region || d.region === s.primary_region) continue;
    if (!regional.has(d.region)) regional.set(d.region, []);
    regional.get(d.region).push(d);
  }
  const driftCell = (region) => {
    if (!pd) return h('span', { class: 'muted' }, 'checking…');
    if (!pd.policies.length) return 'no policy';
    const ds = regional.get(region) || [];
    return ds.length ? ds.map(driftBadge) : h('span', {}, h('span', { 'aria-hidden': 'true' }, '✓ '), 'none');
  };
  const rows = (s.replicas || []).map((r) => {
    const cells = [r.region, r.kms_key_id || 'aws/secretsmanager (default)',
      r.status ? badge(r.status) : '—', r.status_message || '—', time(r.last_accessed_time), driftCell(r.region)];
    if (rw) {
      cells.push(h('span', { class: 'row-actions' },
        h('button', { type: 'button', class: 'danger', 'data-promote': r.region, onclick: () => promote(id, r.region, errors) }, `Promote ${r.region}…`),
        h('button', { type: 'button', 'data-remove': r.region, onclick: () => remove(id, r.region, errors) }, `Remove ${r.region}…`)));
    }
    return cells;
  });
  // A Region the policy wants and AWS has no replica in is a row too: the
  // table answers "where is this secret, and where should it be".
  const have = new Set((s.replicas || []).map((r) => r.region));
  for (const [region, ds] of regional) {
    if (have.has(region)) continue;
    const cells = [region, '—', h('span', { class: 'badge muted' }, h('span', { 'aria-hidden': 'true' }, '∅ '), 'No replica'), '—', '—', ds.map(driftBadge)];
    if (rw) {
      cells.push(h('span', { class: 'row-actions' },
        h('a', { class: 'button', 'data-replicate': region, href: `#/replicate?secret=${encodeURIComponent(id)}&region=${encodeURIComponent(region)}` }, `Replicate to ${region}…`)));
    }
    rows.push(cells);
  }
  const headers = ['Region', 'KMS key', 'AWS status', 'AWS message', 'Last accessed', 'Drift from policy'];
  if (rw) headers.push('Actions');
  out.replaceChildren(...[
    s.stale ? h('div', { id: 'stale', class: 'warning', role: 'status' },
      h('p', {}, h('span', { 'aria-hidden': 'true' }, '⚠ '), 'AWS could not be read now; this is the inventory\'s last reading, from ', time(s.stale.read_time), '.'),
      h('p', {}, `AWS answered: ${s.stale.err.words || s.stale.err.message}`)) : null,
    h('dl', { class: 'facts' },
      h('dt', {}, 'Name'), h('dd', {}, s.name || '—'),
      h('dt', {}, 'ARN'), h('dd', {}, h('code', {}, s.arn || '—')),
      h('dt', {}, 'Primary Region'), h('dd', { id: 'primary-region' }, s.primary_region || '—')),
    rw ? h('p', { class: 'actions' }, h('a', { class: 'button', id: 'replicate-more', href: `#/replicate?secret=${encodeURIComponent(id)}` }, 'Replicate to more Regions…')) : null,
    h('h2', {}, 'Policy'),
    policyView(s, pd),
    h('h2', {}, 'Regions'),
    h('div', { id: 'regions' }, table(s.stale ? 'Replicas, as the inventory last read them, and their drift from the policy' : 'Replicas, as AWS reports them, and their drift from the policy', headers, rows, 'No replicas: the secret is in its primary Region only.')),
    h('h2', {}, 'Recent operations'),
    h('div', { id: 'recent-operations' }, table('Recent operations, newest first', operationHeaders, operationRows(s.recent_operations || []), 'No operations yet.')),
  ].filter(Boolean));
}

function policyView(s, pd) {
  const box = h('div', { id: 'policy', 'aria-live': 'polite' });
  if (!pd) {
    box.append(h('p', {}, 'Finding the policy that selects this secret…'));
    return box;
  }
  if (pd.error) {
    box.append(alertBox(pd.error, 'Could not compare the secret with the replication policies'));
    return box;
  }
  if (pd.note) box.append(h('p', { class: 'help' }, pd.note));
  if (!pd.policies.length) {
    box.append(h('p', { id: 'policy-none' }, 'No replication policy selects this secret: nothing is compared, nothing is enforced.'));
    return box;
  }
  for (const m of pd.policies) {
    box.append(h('p', { class: 'policy-match' }, 'Selected by ',
      h('a', { href: `#/policies/${encodeURIComponent(m.policy.name)}` }, m.policy.name),
      ` (${title(String(m.policy.mode || '').replace(/^POLICY_MODE_/, '')).toLowerCase()} mode), which wants replicas in `,
      (m.policy.replicas || []).map((r) => r.region).join(', ') || 'no Region', '.'));
    if (m.in_conflict) {
      box.append(h('p', { class: 'badge-line bad' }, h('span', { 'aria-hidden': 'true' }, '✗ '),
        `In conflict with ${(m.conflicting_policies || []).join(', ')}: policies with different desires select it, so none acts on it.`));
    }
  }
  const secretLevel = (pd.drifts || []).filter((d) => !d.region || d.region === s.primary_region);
  box.append(h('p', { id: 'drift-summary' }, (pd.drifts || []).length
    ? [h('strong', {}, `${pd.drifts.length} drift${pd.drifts.length === 1 ? '' : 's'} from the policy`), secretLevel.length ? [': ', secretLevel.map(driftBadge)] : ' (per Region below).']
    : [h('span', { 'aria-hidden': 'true' }, '✓ '), 'Complies with the policy.']));
  return box;
}

// globMatch is the policies' name glob: "*" within a path segment, "**"
// across them.
function globMatch(glob, name) {
  let re = '';
  for (let i = 0; i < glob.length;) {
    if (glob.startsWith('**', i)) { re += '.*'; i += 2; } else if (glob[i] === '*') { re += '[^/]*'; i++; } else { re += glob[i].replace(/[.+?^${}()|[\]\\]/g, '\\$&'); i++; }
  }
  return new RegExp(`^${re}$`, 's').test(name);
}

// policyAndDrift finds the policies that select the secret and its drift
// from them. The server decides both: GetSecret says so where it can;
// otherwise each policy whose name globs admit
// the secret's name is planned (POST v1/policies:plan, which changes
// nothing) with its selector narrowed to this one name and account, so
// the plan's selection, drift and conflicts are the server's for this
// secret alone. The inventory row gives the account (the policies select
// inventory rows).
async function policyAndDrift(s) {
  let inv;
  try {
    const res = await call('GET', `v1/secrets/${seg(s.arn)}${query({ recent_operations: 1 })}`);
    // A server whose GetSecret carries the selecting policy and the drift
    // (computed now, drift_time set) is taken at its word; the plans below
    // are for servers whose GetSecret has only the inventory row.
    if (res.policy || res.drift_time) {
      const conflicting = res.conflicting_policies || [];
      return {
        policies: res.policy ? [{ policy: res.policy, in_conflict: conflicting.length > 0, conflicting_policies: conflicting }] : [],
        drifts: res.drifts || [],
      };
    }
    inv = res.secret;
  } catch (err) {
    if (err.httpStatus === 404) {
      return { policies: [], drifts: [], note: 'The inventory does not hold this secret yet (the next scan lists it): policies select inventory secrets only.' };
    }
    return { policies: [], error: err };
  }
  const stored = [];
  try {
    let token = '';
    do {
      const res = await call('GET', `v1/policies${query({ page_size: 1000, page_token: token })}`);
      stored.push(...(res.policies || []));
      token = res.next_page_token || '';
    } while (token);
  } catch (err) {
    if (err.httpStatus === 404 || err.code === 'UNIMPLEMENTED') return { policies: [], drifts: [] };
    return { policies: [], error: err };
  }
  const candidates = stored.filter((p) => {
    const sel = p.selector || {};
    if ((sel.accounts || []).length && !sel.accounts.includes(inv.account)) return false;
    return !(sel.name_globs || []).length || sel.name_globs.some((g) => globMatch(g, inv.name));
  });
  const matches = [];
  let drifts = [];
  try {
    for (const p of candidates) {
      const narrowed = {
        name: p.name, mode: p.mode, replicas: p.replicas, retry_failed: p.retry_failed, force_overwrite: p.force_overwrite,
        prune: p.prune, recreate_on_kms_change: p.recreate_on_kms_change, write_budget_share: p.write_budget_share,
        selector: { ...p.selector, accounts: [inv.account], name_globs: [inv.name], select_all: false },
      };
      const plan = await call('POST', 'v1/policies:plan', { policy: narrowed, max_secrets: 1000 });
      // The same name may be a primary in several Regions of the account:
      // only the row with this secret's primary Region is this secret.
      const planned = (plan.secrets || []).filter((x) => x.name === inv.name);
      const mine = planned.find((x) => x.primary_region === inv.primary_region);
      if (!mine && (plan.selected || 0) <= planned.length) continue;
      matches.push({ policy: p, in_conflict: mine && mine.in_conflict, conflicting_policies: mine ? mine.conflicting_policies : [] });
      if (mine) drifts = drifts.concat(mine.drifts || []);
    }
  } catch (err) {
    return { policies: matches, error: err };
  }
  return { policies: matches, drifts };
}

// promote asks the user to type the Region before StopReplicationToReplica:
// the replica becomes a standalone secret and stops following the primary,
// which cannot be undone by replicad.
function promote(id, region, errors) {
  const typed = h('input', { id: 'confirm-region', type: 'text', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'confirm-help' });
  const force = h('input', { id: 'promote-force', type: 'checkbox' });
  const reason = h('textarea', { id: 'promote-reason', rows: '2', maxlength: '1024' });
  const go = h('button', { type: 'submit', class: 'danger', id: 'promote-confirm', disabled: true }, `Promote ${region}`);
  const err = h('div', {});
  const form = h('form', {},
    h('h2', { id: 'dialog-title' }, `Promote the replica in ${region}?`),
    h('p', {}, 'The replica becomes a standalone secret in ', h('strong', {}, region),
      ' and stops receiving changes from the primary. Other Regions keep replicating from the primary.'),
    h('div', { class: 'field' },
      h('label', { for: 'confirm-region' }, 'Type the Region to confirm'),
      h('p', { class: 'help', id: 'confirm-help' }, 'Type ', h('code', {}, region), ' exactly.'),
      typed),
    h('div', { class: 'field check' }, force, h('label', { for: 'promote-force' }, 'Promote even if the replica is not InSync (it may be stale)')),
    h('div', { class: 'field' }, h('label', { for: 'promote-reason' }, 'Reason (optional; stored only as a fingerprint)'), reason),
    err,
    h('div', { class: 'actions' }, go, h('button', { type: 'button', onclick: () => dlg.close() }, 'Back')));
  typed.addEventListener('input', () => { go.disabled = typed.value.trim() !== region; });
  const dlg = openDialog(form);
  typed.focus();
  const requestId = uuid();
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    // The button is disabled until the Region is typed; checked again here
    // because Enter in a field submits a form.
    if (typed.value.trim() !== region) {
      err.replaceChildren(h('p', { class: 'violation', role: 'alert' }, `Type ${region} to confirm.`));
      return;
    }
    go.disabled = true;
    const body = { request_id: requestId };
    if (force.checked) body.force = true;
    if (reason.value) body.reason = reason.value;
    try {
      const res = await call('POST', `v1/secrets/${seg(id)}/replicas/${seg(region)}:promote`, body);
      dlg.close();
      announce('Promotion accepted');
      location.hash = `#/operations/${encodeURIComponent(res.operation.id)}`;
    } catch (ex) {
      err.replaceChildren(alertBox(ex, 'Not promoted'));
      go.disabled = false;
    }
  });
  errors.replaceChildren();
}

function remove(id, region, errors) {
  const reason = h('textarea', { id: 'remove-reason', rows: '2', maxlength: '1024' });
  const go = h('button', { type: 'submit', class: 'danger', id: 'remove-confirm' }, `Remove ${region}`);
  const err = h('div', {});
  const form = h('form', {},
    h('h2', { id: 'dialog-title' }, `Remove the replica in ${region}?`),
    h('p', {}, 'AWS deletes the replica in ', h('strong', {}, region), ' at once, without a recovery window.'),
    h('div', { class: 'field' }, h('label', { for: 'remove-reason' }, 'Reason (optional; stored only as a fingerprint)'), reason),
    err,
    h('div', { class: 'actions' }, go, h('button', { type: 'button', onclick: () => dlg.close() }, 'Back')));
  const dlg = openDialog(form);
  const requestId = uuid();
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    go.disabled = true;
    const body = { regions: [region], request_id: requestId };
    if (reason.value) body.reason = reason.value;
    try {
      const res = await call('POST', `v1/secrets/${seg(id)}:removeRegions`, body);
      dlg.close();
      location.hash = `#/operations/${encodeURIComponent(res.operation.id)}`;
    } catch (ex) {
      err.replaceChildren(alertBox(ex, 'Not removed'));
      go.disabled = false;
    }
  });
  errors.replaceChildren();
}
