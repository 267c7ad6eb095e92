import { call, seg, query } from './api.js';
import { h, badge, table, alertBox, allowedRegions, field, readOnly, uuid, announce, shortEnum } from './ui.js';
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
        table(`Secrets with no replica in ${q.get('target')}`, ['Secret', 'Replica status', 'AWS message'], list(r.no_replica || []), 'None.'),
        readOnly() || q.get('region') === q.get('target') ? '' : failoverSection(q.get('region'), q.get('target')));
    })
    .catch((err) => {
      out.setAttribute('aria-busy', 'false');
      out.replaceChildren(err.httpStatus === 404 && /no such path/.test(err.message)
        ? h('p', { class: 'empty' }, 'This server has no disaster-recovery readiness API.')
        : alertBox(err, 'Could not check readiness'));
    });
}

// failoverSection is the failover action: a plan first (validate_only:
// every secret with its steps or why it is skipped, nothing changed),
// then a confirmation that asks for the target Region typed out, then the
// failover itself, one request id for the section's lifetime so a double
// submit answers the same operation.
function failoverSection(source, target) {
  const force = h('input', { id: 'fo-force', type: 'checkbox' });
  const reason = h('textarea', { id: 'fo-reason', rows: '2', maxlength: '1024' });
  const previewBtn = h('button', { type: 'button', id: 'fo-preview' }, 'Preview the failover');
  const planOut = h('div', { id: 'fo-plan', 'aria-live': 'polite' });
  const requestId = uuid();
  const body = () => {
    const b = { target_region: target, request_id: requestId };
    if (force.checked) b.force = true;
    if (reason.value) b.reason = reason.value;
    return b;
  };
  force.addEventListener('change', () => planOut.replaceChildren());
  previewBtn.addEventListener('click', async () => {
    previewBtn.disabled = true;
    planOut.replaceChildren(h('p', {}, 'Planning…'));
    try {
      const res = await call('POST', `v1/regions/${seg(source)}:failover`, { ...body(), validate_only: true });
      planOut.replaceChildren(...failoverPlan(res.plan || {}, source, target), confirmForm(source, target, res.plan || {}, body));
    } catch (err) {
      planOut.replaceChildren(alertBox(err, 'No failover plan'));
    } finally {
      previewBtn.disabled = false;
    }
  });
  return h('section', { class: 'failover', 'aria-labelledby': 'fo-h' },
    h('h2', { id: 'fo-h' }, `Fail over from ${source} to ${target}`),
    h('p', {}, 'Promotes each ready secret\'s replica in ', h('strong', {}, target),
      ' to be its primary, then replicates it to the secret\'s other Regions. Every AWS call goes to a Region that is up. The preview changes nothing.'),
    h('div', { class: 'field check' }, force, h('label', { for: 'fo-force' }, 'Include replicas that are not InSync (they may be stale)')),
    h('div', { class: 'field' }, h('label', { for: 'fo-reason' }, 'Reason (optional; stored only as a fingerprint)'), reason),
    previewBtn, planOut);
}

export function failoverPlan(p, source, target, verb = 'fail over') {
  const rows = (p.secrets || []).map((x) => [
    x.secret_id,
    x.skip_reason ? h('span', { class: 'badge muted' }, h('span', { 'aria-hidden': 'true' }, '– '), `Skipped: ${x.skip_reason}`)
      : (x.state && x.state !== 'OPERATION_STATE_UNSPECIFIED' ? badge(x.state) : h('span', { class: 'badge wait' }, h('span', { 'aria-hidden': 'true' }, '… '), 'Planned')),
    (x.steps || []).length ? h('ol', { class: 'plain steps' }, x.steps.map((st) => h('li', {},
      `${st.api} in ${st.region}${(st.target_regions || []).length ? ` → ${st.target_regions.join(', ')}` : ''} `,
      st.state && st.state !== 'DISASTER_RECOVERY_STEP_STATE_UNSPECIFIED' ? badge(String(st.state).replace(/^DISASTER_RECOVERY_STEP_STATE_/, '')) : null,
      st.request_id ? [' ', h('code', {}, st.request_id)] : null,
      st.message ? ` ${st.message}` : null))) : '—',
    x.operation_id ? h('a', { href: `#/operations/${encodeURIComponent(x.operation_id)}` }, x.operation_id) : '—',
    x.error || '—',
  ]);
  const planned = (p.total || 0) - (p.skipped || 0);
  return [
    h('p', { id: 'fo-summary', class: 'badge-line' },
      `${p.total || 0} secrets with their primary in ${source || p.source_region}: ${planned} to ${verb} to ${target || p.target_region}, ${p.skipped || 0} skipped; ${p.planned_writes || 0} AWS write call${p.planned_writes === 1 ? '' : 's'}.`,
      p.succeeded || p.failed ? ` ${p.succeeded || 0} succeeded, ${p.failed || 0} failed, ${p.remaining || 0} remaining.` : ''),
    table(`Secrets to ${verb}`, ['Secret', 'Plan', 'Steps (AWS calls)', 'Operation', 'Error'], rows, 'No secret is selected.'),
  ];
}

function confirmForm(source, target, plan, body) {
  const planned = (plan.total || 0) - (plan.skipped || 0);
  if (!planned) return h('p', { class: 'empty' }, 'Nothing to fail over.');
  const typed = h('input', { id: 'fo-confirm-region', type: 'text', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'fo-confirm-help' });
  const go = h('button', { type: 'submit', class: 'danger', id: 'fo-confirm', disabled: true }, `Fail over ${planned} secret${planned === 1 ? '' : 's'} to ${target}`);
  const err = h('div', {});
  const form = h('form', { id: 'fo-form' },
    h('div', { class: 'field' },
      h('label', { for: 'fo-confirm-region' }, 'Type the target Region to confirm'),
      h('p', { class: 'help', id: 'fo-confirm-help' }, 'Type ', h('code', {}, target), ` exactly. The promoted replicas stop following ${source}; failback is a separate operation.`),
      typed),
    err, go);
  typed.addEventListener('input', () => { go.disabled = typed.value.trim() !== target; });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (typed.value.trim() !== target) {
      err.replaceChildren(h('p', { class: 'violation', role: 'alert' }, `Type ${target} to confirm.`));
      return;
    }
    go.disabled = true;
    try {
      const res = await call('POST', `v1/regions/${seg(source)}:failover`, body());
      announce(`Failover accepted: ${shortEnum(res.operation.state).toLowerCase()}`);
      location.hash = `#/operations/${encodeURIComponent(res.operation.id)}`;
    } catch (ex) {
      err.replaceChildren(alertBox(ex, 'Not failed over'));
      go.disabled = false;
    }
  });
  return form;
}
