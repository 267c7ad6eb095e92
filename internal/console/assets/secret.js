import { call, seg, query } from './api.js';
import { h, badge, time, table, alertBox, readOnly, openDialog, uuid, announce, field } from './ui.js';
import { operationRows, operationHeaders } from './operations.js';
import { focusHeading } from './app.js';

// secretsPage looks a secret up by name or ARN.
export function secretsPage() {
  const main = document.getElementById('main');
  const input = h('input', { id: 'lookup', type: 'text', required: true, autocomplete: 'off', spellcheck: 'false' });
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Find a secret' },
    field('lookup', 'Secret name or ARN', input),
    h('button', { type: 'submit' }, 'Show replication'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (input.value.trim()) location.hash = `#/secrets/${encodeURIComponent(input.value.trim())}`;
  });
  main.append(h('h1', {}, 'Secrets'), form);
  focusHeading();
}

// secretPage shows a secret's replication as AWS reports it, with its
// recent operations and the Replicate, Remove and Promote actions.
export function secretPage(id) {
  const main = document.getElementById('main');
  const out = h('div', { 'aria-busy': 'true' }, h('p', {}, 'Reading the secret from AWS…'));
  const errors = h('div', {});
  main.append(h('h1', {}, 'Secret ', h('code', {}, id)), errors, out);
  const load = () => call('GET', `v1/secrets/${seg(id)}/replication${query({ recent_operations: 10 })}`)
    .then((s) => {
      out.setAttribute('aria-busy', 'false');
      const rw = !readOnly();
      const rows = (s.replicas || []).map((r) => {
        const cells = [r.region, r.kms_key_id || 'aws/secretsmanager (default)',
          r.status ? badge(r.status) : '—', r.status_message || '—', time(r.last_accessed_time)];
        if (rw) {
          cells.push(h('span', { class: 'row-actions' },
            h('button', { type: 'button', class: 'danger', 'data-promote': r.region, onclick: () => promote(id, r.region, errors) }, `Promote ${r.region}…`),
            h('button', { type: 'button', 'data-remove': r.region, onclick: () => remove(id, r.region, errors) }, `Remove ${r.region}…`)));
        }
        return cells;
      });
      const headers = ['Region', 'KMS key', 'AWS status', 'AWS message', 'Last accessed'];
      if (rw) headers.push('Actions');
      out.replaceChildren(
        h('dl', { class: 'facts' },
          h('dt', {}, 'Name'), h('dd', {}, s.name || '—'),
          h('dt', {}, 'ARN'), h('dd', {}, h('code', {}, s.arn || '—')),
          h('dt', {}, 'Primary Region'), h('dd', { id: 'primary-region' }, s.primary_region || '—')),
        rw ? h('p', { class: 'actions' }, h('a', { class: 'button', href: `#/replicate?secret=${encodeURIComponent(id)}` }, 'Replicate to more Regions…')) : null,
        h('h2', {}, 'Replicas'),
        table('Replicas, as AWS reports them', headers, rows, 'No replicas: the secret is in its primary Region only.'),
        h('h2', {}, 'Recent operations'),
        table('Recent operations, newest first', operationHeaders, operationRows(s.recent_operations || []), 'No operations yet.'));
    })
    .catch((err) => {
      out.setAttribute('aria-busy', 'false');
      out.replaceChildren(alertBox(err, 'Could not read the secret'));
    });
  load();
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
