import { call, seg, codeName, codeInWords } from './api.js';
import { h, badge, kindWord, time, table, alertBox, readOnly, announce, openDialog, shortEnum, uuid } from './ui.js';
import { failoverPlan } from './dr.js';

const live = new Set(['PENDING', 'RUNNING', 'AWAITING_APPROVAL']);
const pollEvery = 1000;

// operationPage shows one operation and, while it has not ended, reads it
// again every second; the polling stops when it ends or the page is left.
export function operationPage(id) {
  const main = document.getElementById('main');
  const status = h('p', { class: 'live', id: 'live-status' }, 'Loading…');
  const body = h('div', { id: 'operation' });
  const actions = h('div', { class: 'actions' });
  const errors = h('div', {});
  main.append(h('h1', {}, 'Operation ', h('code', {}, id)), status, errors, actions, body);
  let timer = null;
  let stopped = false;
  let last = '';

  async function load() {
    if (timer) clearTimeout(timer);
    timer = null;
    try {
      const res = await call('GET', `v1/operations/${seg(id)}`);
      if (stopped) return;
      const op = res.operation;
      const state = shortEnum(op.state);
      if (state !== last) {
        if (last) announce(`Operation is now ${state.toLowerCase().replace('_', ' ')}`);
        last = state;
      }
      render(op, body, actions, errors, load);
      if (live.has(state)) {
        status.replaceChildren(h('span', { 'aria-hidden': 'true' }, '↻ '), 'Live: refreshing every second until the operation ends.');
        timer = setTimeout(load, pollEvery);
      } else {
        status.replaceChildren(h('span', { 'aria-hidden': 'true' }, '■ '), 'The operation has ended: no longer refreshing.');
        status.dataset.ended = 'true';
      }
    } catch (err) {
      if (stopped) return;
      errors.replaceChildren(alertBox(err, 'Could not read the operation'));
      status.textContent = 'Not refreshing.';
    }
  }
  load();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}

function render(op, body, actions, errors, reload) {
  const state = shortEnum(op.state);
  const summary = h('dl', { class: 'facts' },
    h('dt', {}, 'State'), h('dd', { id: 'op-state' }, badge(op.state)),
    h('dt', {}, 'Kind'), h('dd', {}, kindWord(op.kind)),
    h('dt', {}, 'Secret'), h('dd', {}, h('a', { href: `#/secrets/${encodeURIComponent(op.secret_id)}` }, op.secret_id)),
    h('dt', {}, 'AWS calls go to'), h('dd', {}, op.aws_region || '—'),
    h('dt', {}, 'Requested by'), h('dd', {}, op.principal || '—'),
    h('dt', {}, 'Created'), h('dd', {}, time(op.create_time)),
    h('dt', {}, 'Started'), h('dd', {}, time(op.start_time)),
    h('dt', {}, 'Ended'), h('dd', {}, time(op.end_time)),
    h('dt', {}, 'Attempts'), h('dd', {}, String(op.attempts || 0)),
    h('dt', {}, 'Force'), h('dd', {}, op.force ? 'Yes' : 'No'),
    op.request_id ? [h('dt', {}, 'Request id'), h('dd', {}, h('code', {}, op.request_id))] : null,
    op.reason_fingerprint ? [h('dt', {}, 'Reason (fingerprint)'), h('dd', {}, h('code', {}, op.reason_fingerprint))] : null,
    Object.keys(op.labels || {}).length
      ? [h('dt', {}, 'Labels (values fingerprinted)'), h('dd', {}, Object.entries(op.labels).map(([k, v]) => h('span', { class: 'label' }, `${k}=${v}`)))]
      : null);
  const parts = [summary];
  if (op.error) {
    parts.push(h('section', { class: 'error-words', 'aria-labelledby': 'err-h' },
      h('h2', { id: 'err-h' }, state === 'CANCELLED' ? 'Why it was cancelled' : 'Why it failed'),
      h('p', { id: 'op-error' }, `${codeInWords(op.error.code)} (${codeName(op.error.code)}): ${op.error.message || 'no message'}`)));
  }
  if (op.last_attempt_error) {
    // A transient failure being retried (or, once ended, the last one).
    parts.push(h('section', { class: 'warning', 'aria-labelledby': 'retry-h' },
      h('h2', { id: 'retry-h' }, live.has(state) ? 'Retrying after a failed attempt' : 'Last failed attempt'),
      h('p', { id: 'op-last-error' }, `${codeInWords(op.last_attempt_error.code)} (${codeName(op.last_attempt_error.code)}): ${op.last_attempt_error.message || 'no message'}`),
      h('dl', { class: 'facts' },
        op.next_attempt_time ? [h('dt', {}, 'Next attempt'), h('dd', {}, time(op.next_attempt_time))] : null,
        op.retry_deadline ? [h('dt', {}, 'Retries stop at'), h('dd', {}, time(op.retry_deadline))] : null)));
  }
  if (op.approval) parts.push(approval(op.approval));
  if (op.disaster_recovery) {
    const verb = shortEnum(op.kind) === 'FAILBACK' ? 'fail back' : 'fail over';
    parts.push(h('section', { id: 'op-dr', 'aria-labelledby': 'dr-h' }, h('h2', { id: 'dr-h' }, `Secrets of the ${kindWord(op.kind).toLowerCase()}`),
      ...failoverPlan(op.disaster_recovery, op.disaster_recovery.source_region, op.disaster_recovery.target_region, verb)));
  }
  parts.push(h('h2', {}, 'Progress per Region'));
  parts.push(table('Progress per Region', ['Region', 'KMS key', 'Progress', 'AWS replication status', 'Message'],
    (op.regions || []).map((r) => [r.region, r.kms_key_id || 'aws/secretsmanager (default)', badge(r.state),
      r.replication_status && r.replication_status !== 'REPLICATION_STATUS_UNSPECIFIED' ? badge(r.replication_status) : '—',
      r.message || '—']), 'No Regions.'));
  parts.push(h('h2', {}, 'AWS calls'));
  parts.push(table('AWS calls, in call order', ['API', 'Region', 'AWS request id', 'Outcome', 'Time'],
    (op.aws_calls || []).map((c) => [c.api, c.region, c.request_id ? h('code', {}, c.request_id) : '(no response)',
      c.error_code ? h('span', { class: 'badge bad' }, h('span', { 'aria-hidden': 'true' }, '✗'), ' ', c.error_code) : badge('OK'),
      time(c.time)]), 'No AWS call yet.'));
  body.replaceChildren(...parts);

  actions.replaceChildren();
  if (readOnly()) return;
  // A RUNNING operation waiting to retry a refused mutating call can
  // still be cancelled; the server decides (FAILED_PRECONDITION otherwise).
  if (state === 'PENDING' || state === 'AWAITING_APPROVAL' || (state === 'RUNNING' && op.next_attempt_time)) {
    actions.append(h('button', { type: 'button', class: 'danger', onclick: () => act(op, 'cancel', errors, reload) }, 'Cancel operation…'));
  }
  if (state === 'AWAITING_APPROVAL') {
    actions.append(h('button', { type: 'button', onclick: () => act(op, 'approve', errors, reload) }, 'Approve…'));
  }
  if (shortEnum(op.kind) === 'FAILOVER' && !live.has(state) && op.disaster_recovery) {
    actions.append(h('button', { type: 'button', id: 'failback', onclick: () => failback(op) }, `Fail back to ${op.disaster_recovery.source_region}…`));
  }
}

// failback brings a failover's secrets back to the Region it left: the
// plan first (validate_only; a secret whose old primary changed since the
// failover is refused unless forced), then the Region typed to confirm.
function failback(op) {
  const back = op.disaster_recovery.source_region;
  const force = h('input', { id: 'fb-force', type: 'checkbox' });
  const reason = h('textarea', { id: 'fb-reason', rows: '2', maxlength: '1024' });
  const typed = h('input', { id: 'fb-confirm-region', type: 'text', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'fb-confirm-help' });
  const previewBtn = h('button', { type: 'button', id: 'fb-preview' }, 'Preview the failback');
  const go = h('button', { type: 'submit', class: 'danger', id: 'fb-confirm', disabled: true }, `Fail back to ${back}`);
  const planOut = h('div', { id: 'fb-plan', 'aria-live': 'polite' });
  const err = h('div', {});
  const requestId = uuid();
  let previewed = false;
  const body = () => {
    const b = { request_id: requestId };
    if (force.checked) b.force = true;
    if (reason.value) b.reason = reason.value;
    return b;
  };
  const arm = () => { go.disabled = !previewed || typed.value.trim() !== back; };
  const form = h('form', {},
    h('h2', { id: 'dialog-title' }, `Fail back to ${back}?`),
    h('p', {}, 'Each secret this failover moved is replicated from its current primary over its old copy in ', h('strong', {}, back),
      ', so that Region holds an up-to-date replica again; the primary stays where the failover moved it (fail over again to move it back). ',
      'A secret whose old copy changed after the failover is refused unless you force it: forcing overwrites those changes.'),
    h('div', { class: 'field check' }, force, h('label', { for: 'fb-force' }, 'Overwrite old copies that changed after the failover too (their changes are lost)')),
    h('div', { class: 'field' }, h('label', { for: 'fb-reason' }, 'Reason (optional; stored only as a fingerprint)'), reason),
    previewBtn, planOut,
    h('div', { class: 'field' },
      h('label', { for: 'fb-confirm-region' }, 'Type the Region to confirm'),
      h('p', { class: 'help', id: 'fb-confirm-help' }, 'Preview first, then type ', h('code', {}, back), ' exactly.'),
      typed),
    err,
    h('div', { class: 'actions' }, go, h('button', { type: 'button', onclick: () => dlg.close() }, 'Back')));
  const dlg = openDialog(form);
  typed.addEventListener('input', arm);
  force.addEventListener('change', () => { previewed = false; planOut.replaceChildren(); arm(); });
  previewBtn.addEventListener('click', async () => {
    previewBtn.disabled = true;
    planOut.replaceChildren(h('p', {}, 'Planning…'));
    try {
      const res = await call('POST', `v1/operations/${seg(op.id)}:failback`, { ...body(), validate_only: true });
      planOut.replaceChildren(...failoverPlan(res.plan || {}, res.plan && res.plan.source_region, back, 'fail back'));
      previewed = true;
    } catch (ex) {
      planOut.replaceChildren(alertBox(ex, 'No failback plan'));
    } finally {
      previewBtn.disabled = false;
      arm();
    }
  });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!previewed || typed.value.trim() !== back) {
      err.replaceChildren(h('p', { class: 'violation', role: 'alert' }, `Preview, then type ${back} to confirm.`));
      return;
    }
    go.disabled = true;
    try {
      const res = await call('POST', `v1/operations/${seg(op.id)}:failback`, body());
      dlg.close();
      announce('Failback accepted');
      location.hash = `#/operations/${encodeURIComponent(res.operation.id)}`;
    } catch (ex) {
      err.replaceChildren(alertBox(ex, 'Not failed back'));
      go.disabled = false;
    }
  });
}

function approval(a) {
  return h('section', { 'aria-labelledby': 'appr-h' },
    h('h2', { id: 'appr-h' }, 'Two-person approval'),
    h('dl', { class: 'facts' },
      h('dt', {}, 'Rule'), h('dd', {}, a.rule || '—'),
      h('dt', {}, 'Requester'), h('dd', {}, a.requester || '—'),
      h('dt', {}, 'Approver groups'), h('dd', {}, (a.approver_groups || []).join(', ') || '—'),
      h('dt', {}, 'Approved by'), h('dd', {}, (a.approvers || []).map((x) => x.principal).join(', ') || 'nobody yet'),
      h('dt', {}, 'Expires'), h('dd', {}, time(a.expire_time)),
      a.break_glass ? [h('dt', {}, 'Break-glass'), h('dd', {}, 'Released without approval by a break-glass token')] : null));
}

// act asks for a reason and confirms, then cancels or approves.
function act(op, verb, errors, reload) {
  const reason = h('textarea', { id: 'act-reason', rows: '3', maxlength: '1024' });
  const err = h('div', {});
  const confirm = h('button', { type: 'submit', class: verb === 'cancel' ? 'danger' : '' }, verb === 'cancel' ? 'Cancel the operation' : 'Approve the operation');
  const form = h('form', { method: 'dialog' },
    h('h2', { id: 'dialog-title' }, verb === 'cancel' ? 'Cancel this operation?' : 'Approve this operation?'),
    h('p', {}, verb === 'cancel'
      ? 'A pending operation is cancelled before any AWS call; one that has started can no longer be cancelled.'
      : 'Approving releases the operation to run. You cannot approve an operation you requested.'),
    h('div', { class: 'field' }, h('label', { for: 'act-reason' }, 'Reason (optional; stored only as a fingerprint)'), reason),
    err,
    h('div', { class: 'actions' }, confirm, h('button', { type: 'button', value: 'close', onclick: () => dlg.close() }, 'Back')));
  const dlg = openDialog(form);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    confirm.disabled = true;
    try {
      await call('POST', `v1/operations/${seg(op.id)}:${verb}`, reason.value ? { reason: reason.value } : {});
      dlg.close();
      errors.replaceChildren();
      announce(verb === 'cancel' ? 'Operation cancelled' : 'Operation approved');
      reload();
    } catch (ex) {
      err.replaceChildren(alertBox(ex, verb === 'cancel' ? 'Not cancelled' : 'Not approved'));
      confirm.disabled = false;
    }
  });
}
