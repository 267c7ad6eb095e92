// The console's router: pages are addressed by the URL fragment
// (#/operations/ID), so the server serves one shell at /ui/ and every
// link is relative. A page is a function rendering into <main> and
// returning a cleanup (to stop polling) or nothing.
import { h } from './ui.js';
import { operationsPage } from './operations.js';
import { operationPage } from './operation.js';
import { replicatePage } from './replicate.js';
import { secretsPage, secretPage } from './secret.js';
import { auditPage } from './audit.js';
import { policiesPage, policyPage } from './policies.js';
import { drPage } from './dr.js';

const routes = [
  [/^\/operations\/([^/]+)$/, (m, q) => operationPage(decodeURIComponent(m[1]), q)],
  [/^\/operations$/, (m, q) => operationsPage(q)],
  [/^\/replicate$/, (m, q) => replicatePage(q)],
  [/^\/secrets\/(.+)$/, (m, q) => secretPage(decodeURIComponent(m[1]), q)],
  [/^\/secrets$/, (m, q) => secretsPage(q)],
  [/^\/audit$/, (m, q) => auditPage(q)],
  [/^\/policies\/(.+)$/, (m) => policyPage(decodeURIComponent(m[1]))],
  [/^\/policies$/, (m, q) => policiesPage(q)],
  [/^\/dr$/, (m, q) => drPage(q)],
];

let cleanup = null;

function route() {
  if (cleanup) {
    cleanup();
    cleanup = null;
  }
  const raw = location.hash.replace(/^#/, '') || '/operations';
  const [path, qs] = raw.split('?');
  const q = new URLSearchParams(qs || '');
  const main = document.getElementById('main');
  main.replaceChildren();
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (path.startsWith(`/${a.dataset.nav}`)) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  for (const [re, page] of routes) {
    const m = path.match(re);
    if (m) {
      cleanup = page(m, q, main) || null;
      return;
    }
  }
  main.append(h('h1', {}, 'Not found'), h('p', {}, 'No such page. ', h('a', { href: '#/operations' }, 'Go to operations')));
}

// Moves focus to the new page's heading, so keyboard and screen-reader
// users land on it.
export function focusHeading() {
  const h1 = document.querySelector('#main h1');
  if (h1) {
    h1.setAttribute('tabindex', '-1');
    h1.focus({ preventScroll: false });
  }
}

export function navigate(hash) {
  location.hash = hash;
}

window.addEventListener('hashchange', route);
route();
