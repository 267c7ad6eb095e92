import { call, seg, codeInWords } from './api.js';
import { h, alertBox, allowedRegions, defaultRegion, field, uuid, readOnly, announce, table, badge, kindWord } from './ui.js';
import { focusHeading } from './app.js';

// replicatePage is the Replicate form: Regions from the server's
// allow-list, a KMS key per Region, force overwrite, reason and labels. A
// plan preview sends the request with validate_only; submitting sends it
// for real, with a request_id minted when the form opened, so a double
// submit answers the same operation. Field violations are shown beside
// their fields and listed in a summary at the top.
export function replicatePage(q) {
  const main = document.getElementById('main');
  main.append(h('h1', {}, 'Replicate a secret'));
  if (readOnly()) {
    main.append(h('p', { class: 'alert', role: 'alert' }, 'This console is read-only: replication is not available here.'));
    return;
  }
  const requestId = uuid();
  const summary = h('div', { id: 'summary' });
  const secret = h('input', { id: 'secret_id', name: 'secret_id', type: 'text', required: true, autocomplete: 'off', spellcheck: 'false', value: q.get('secret') || '' });
  const dr = defaultRegion();
  const rows = allowedRegions().map((region) => {
    const box = h('input', { type: 'checkbox', id: `region-${region}`, name: 'region', value: region });
    const kms = h('input', { type: 'text', id: `kms-${region}`, name: `kms-${region}`, disabled: true, autocomplete: 'off', spellcheck: 'false', placeholder: 'aws/secretsmanager' });
    box.addEventListener('change', () => { kms.disabled = !box.checked; });
    // A link from a secret's missing Region arrives with it ticked.
    if (q.get('region') === region) {
      box.checked = true;
      kms.disabled = false;
    }
    const msg = h('p', { class: 'violation', id: `region-${region}-error`, hidden: true });
    const kmsMsg = h('p', { class: 'violation', id: `kms-${region}-error`, hidden: true });
    const row = h('div', { class: 'region-row' },
      h('div', { class: 'check' }, box, h('label', { for: `region-${region}` }, region)),
      h('div', { class: 'kms' }, h('label', { for: `kms-${region}` }, `KMS key for ${region}`), kms, kmsMsg),
      msg);
    return { region, box, kms, msg, kmsMsg, row };
  });
  const regionsMsg = h('p', { class: 'violation', id: 'regions-error', hidden: true });
  const force = h('input', { type: 'checkbox', id: 'force', name: 'force' });
  const forceWarn = h('p', { class: 'warning', id: 'force-warning' },
    h('span', { 'aria-hidden': 'true' }, '⚠ '),
    'Force overwrite replaces any secret that already has this name in a selected Region: its value, versions and KMS key are overwritten by the primary\'s and cannot be recovered. Without it, such a Region fails and nothing is overwritten.');
  force.setAttribute('aria-describedby', 'force-warning');
  force.addEventListener('change', () => forceWarn.classList.toggle('armed', force.checked));
  const reason = h('textarea', { id: 'reason', name: 'reason', rows: '3', maxlength: '1024' });
  const labels = h('textarea', { id: 'labels', name: 'labels', rows: '3', spellcheck: 'false', placeholder: 'ticket=CHG-1234' });
  const preview = h('button', { type: 'button', id: 'preview' }, 'Preview plan');
  const submit = h('button', { type: 'submit', id: 'submit', class: 'primary' }, 'Replicate');
  const plan = h('div', { id: 'plan', 'aria-live': 'polite' });
  const form = h('form', { id: 'replicate-form', novalidate: true },
    summary,
    field('secret_id', 'Secret name or ARN', secret,
      dr ? `A bare name means the secret whose primary is in ${dr}; give an ARN for a secret elsewhere.` : 'Give the secret\'s full ARN.'),
    h('p', { class: 'violation', id: 'secret_id-error', hidden: true }),
    h('fieldset', { class: 'regions', 'aria-describedby': 'regions-help' },
      h('legend', {}, 'Replica Regions'),
      h('p', { class: 'help', id: 'regions-help' }, 'The Regions this server may act in. Leave a KMS key empty for aws/secretsmanager; otherwise a key id, alias/NAME or ARN in that Region.'),
      regionsMsg,
      h('div', { class: 'region-grid' }, rows.map((r) => r.row))),
    h('div', { class: 'field check' }, force, h('label', { for: 'force' }, 'Force overwrite of same-named secrets in the selected Regions')),
    forceWarn,
    field('reason', 'Reason (optional; stored and audited only as a fingerprint)', reason),
    h('p', { class: 'violation', id: 'reason-error', hidden: true }),
    field('labels', 'Labels (optional; one key=value per line)', labels),
    h('p', { class: 'violation', id: 'labels-error', hidden: true }),
    h('div', { class: 'actions' }, preview, submit),
    plan);
  main.append(form);

  function request(validateOnly) {
    const selected = rows.filter((r) => r.box.checked);
    const lab = {};
    for (const line of labels.value.split('\n')) {
      const t = line.trim();
      if (!t) continue;
      const i = t.indexOf('=');
      lab[i < 0 ? t : t.slice(0, i).trim()] = i < 0 ? '' : t.slice(i + 1).trim();
    }
    const body = {
      regions: selected.map((r) => (r.kms.value.trim() ? { region: r.region, kms_key_id: r.kms.value.trim() } : { region: r.region })),
      request_id: requestId,
    };
    if (force.checked) body.force_overwrite_replica_secret = true;
    if (reason.value) body.reason = reason.value;
    if (Object.keys(lab).length) body.labels = lab;
    if (validateOnly) body.validate_only = true;
    return { selected, body };
  }

  function clearViolations() {
    summary.replaceChildren();
    for (const el of form.querySelectorAll('.violation')) { el.hidden = true; el.textContent = ''; }
    for (const el of form.querySelectorAll('[aria-invalid]')) {
      el.removeAttribute('aria-invalid');
      const d = (el.getAttribute('aria-describedby') || '').split(' ').filter((x) => !x.endsWith('-error'));
      if (d.length) el.setAttribute('aria-describedby', d.join(' ')); else el.removeAttribute('aria-describedby');
    }
  }

  function mark(input, msgEl, text) {
    msgEl.hidden = false;
    msgEl.textContent = msgEl.textContent ? `${msgEl.textContent} ${text}` : text;
    if (input) {
      input.setAttribute('aria-invalid', 'true');
      const d = (input.getAttribute('aria-describedby') || '').split(' ').filter(Boolean);
      if (!d.includes(msgEl.id)) d.push(msgEl.id);
      input.setAttribute('aria-describedby', d.join(' '));
    }
    return input || msgEl;
  }

  // showViolations puts each violation beside its field (regions[i] is the
  // i-th selected Region) and lists them all in the summary, linked.
  function showViolations(err, selected) {
    const items = [];
    for (const v of err.violations) {
      let target = null;
      let m;
      if (v.field === 'secret_id') target = mark(secret, form.querySelector('#secret_id-error'), v.description);
      else if ((m = v.field.match(/^regions\[(\d+)\]\.region$/)) && selected[+m[1]]) target = mark(selected[+m[1]].box, selected[+m[1]].msg, v.description);
      else if ((m = v.field.match(/^regions\[(\d+)\]\.kms_key_id$/)) && selected[+m[1]]) target = mark(selected[+m[1]].kms, selected[+m[1]].kmsMsg, v.description);
      else if (v.field === 'regions' || v.field.startsWith('regions')) target = mark(null, regionsMsg, v.description);
      else if (v.field === 'reason') target = mark(reason, form.querySelector('#reason-error'), v.description);
      else if (v.field.startsWith('labels')) target = mark(labels, form.querySelector('#labels-error'), `${v.field}: ${v.description}`);
      const where = target && target.id ? h('a', { href: `#${target.id}`, onclick: (e) => { e.preventDefault(); target.focus(); } }, v.field) : h('code', {}, v.field);
      items.push(h('li', {}, where, ` — ${v.description}`));
    }
    summary.replaceChildren(h('div', { class: 'alert', role: 'alert', tabindex: '-1', id: 'error-summary' },
      // With violations listed below, the title need not repeat them.
      h('p', { class: 'alert-title' }, h('span', { 'aria-hidden': 'true' }, '⚠ '),
        items.length && err.httpStatus ? `${codeInWords(err.code)} (HTTP ${err.httpStatus}, ${err.code}): fix the fields below.` : err.words),
      items.length ? h('ul', {}, items) : null));
    summary.firstChild.focus();
  }

  async function send(validateOnly) {
    clearViolations();
    plan.replaceChildren();
    const id = secret.value.trim();
    const { selected, body } = request(validateOnly);
    if (!id) {
      showViolations({ words: 'The request is not valid', violations: [{ field: 'secret_id', description: 'a secret name or ARN is required' }] }, selected);
      return;
    }
    preview.disabled = submit.disabled = true;
    try {
      const res = await call('POST', `v1/secrets/${seg(id)}:replicate`, body);
      const op = res.operation;
      if (validateOnly) {
        plan.replaceChildren(planView(op));
        announce('Plan ready');
      } else {
        location.hash = `#/operations/${encodeURIComponent(op.id)}`;
      }
    } catch (err) {
      if (err.violations.length || err.code === 'INVALID_ARGUMENT') showViolations(err, selected);
      else {
        summary.replaceChildren(alertBox(err, validateOnly ? 'No plan' : 'Not replicated'));
      }
    } finally {
      preview.disabled = submit.disabled = false;
    }
  }
  preview.addEventListener('click', () => send(true));
  form.addEventListener('submit', (e) => { e.preventDefault(); send(false); });
  focusHeading();
}

function planView(op) {
  return h('section', { class: 'plan', 'aria-labelledby': 'plan-h' },
    h('h2', { id: 'plan-h' }, 'Plan preview'),
    h('p', {}, `Submitting would create a ${kindWord(op.kind)} operation on `, h('code', {}, op.secret_id),
      `, calling ReplicateSecretToRegions in ${op.aws_region} (the primary's Region). It would start `, badge(op.state),
      op.force ? ', overwriting same-named secrets in these Regions.' : ', without overwriting any existing secret.'),
    table('Regions the operation would replicate to', ['Region', 'KMS key'],
      (op.regions || []).map((r) => [r.region, r.kms_key_id || 'aws/secretsmanager (default)'])),
    h('p', { class: 'help' }, 'Nothing has been stored or sent to AWS. The policy and every check have passed; AWS may still refuse, for example a KMS key it cannot use.'));
}
