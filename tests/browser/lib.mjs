// Shared plumbing for the browser journeys: Debian's Chromium driven by playwright-core (from
// tests/peers), named steps, screenshots, and a JSON report on stdout for the Rust side
// (tests/api/support/browser.rs).
//
//   node tests/browser/JOURNEY.mjs BASE_URL OUT_DIR
//   (or PORTICO_BASE_URL / PORTICO_SCREENSHOTS in the environment)
//
// A journey:
//
//   import assert from 'node:assert/strict';
//   import { journey, assertAccessible } from './lib.mjs';
//
//   await journey(async ({ page, url, step, shot }) => {
//     await step('start page', async () => {
//       await page.goto(url('/'));
//       assert.equal(await page.locator('h1').textContent(), 'Environments');
//       await shot(page, 'home');
//       return { violations: await assertAccessible(page) };
//     });
//   });
//
// Success prints one line `{"ok":true,"steps":[...],"screenshots":[...]}` and exits 0. A failure
// (a step throwing, or the whole journey outliving PORTICO_JOURNEY_TIMEOUT_MS) screenshots every
// open page, saves its HTML, prints `{"ok":false,"failed":{...},...}` and exits 1.

import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

// playwright-core lives in tests/peers/node_modules, which is not on this folder's resolution
// path.
const require = createRequire(new URL('../peers/package.json', import.meta.url));
const { chromium } = require('playwright-core');

export const CHROMIUM = '/usr/bin/chromium';

// Without the networking switches Chromium phones home at start, which a closed network refuses.
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** A desktop window and a phone, for `browser.newContext(...)`. */
export const DESKTOP = { viewport: { width: 1280, height: 800 } };
export const PHONE = {
  viewport: { width: 390, height: 844 },
  deviceScaleFactor: 2,
  isMobile: true,
  hasTouch: true,
};

const ACTION_TIMEOUT_MS = 15_000;

/**
 * Runs one journey. `fn` receives `{ browser, context, page, baseUrl, outDir, url, step, shot,
 * newPage }`: `page` is a desktop page in a fresh profile; `newPage(options)` opens a page in
 * another fresh context (for example `PHONE`).
 */
export async function journey(fn) {
  const baseUrl = (process.argv[2] || process.env.PORTICO_BASE_URL || '').replace(/\/+$/, '');
  const outDir = path.resolve(process.argv[3] || process.env.PORTICO_SCREENSHOTS || 'screenshots');
  const timeoutMs = Number(process.env.PORTICO_JOURNEY_TIMEOUT_MS || 100_000);
  if (!baseUrl) {
    report({ ok: false, failed: { step: '(arguments)', error: 'no base URL: pass it as the first argument or set PORTICO_BASE_URL' } });
    process.exit(2);
  }
  mkdirSync(outDir, { recursive: true });

  const steps = [];
  const screenshots = [];
  let current = '(launch)';
  let browser;

  const shot = async (page, name) => {
    const file = path.join(outDir, `${String(screenshots.length + 1).padStart(2, '0')}-${slug(name)}.png`);
    await page.screenshot({ path: file, fullPage: true });
    screenshots.push(file);
    return file;
  };

  const step = async (name, body) => {
    current = name;
    const started = Date.now();
    const data = await body();
    steps.push({ name, ms: Date.now() - started, ...(data === undefined ? {} : { data }) });
    current = null;
    return data;
  };

  const run = async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    const newPage = async (options = DESKTOP) => {
      const context = await browser.newContext({ colorScheme: 'light', reducedMotion: 'reduce', ...options });
      context.setDefaultTimeout(ACTION_TIMEOUT_MS);
      const page = await context.newPage();
      return page;
    };
    const page = await newPage(DESKTOP);
    current = null;
    await fn({
      browser,
      context: page.context(),
      page,
      baseUrl,
      outDir,
      url: (p = '/') => baseUrl + p,
      step,
      shot,
      newPage,
    });
  };

  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`journey did not finish within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([run(), deadline]);
  } catch (error) {
    // A page stuck in a navigation can hold up screenshots and closing: bounded, then exit.
    const none = { screenshots: [], html: [] };
    const evidence = browser ? await within(20_000, saveEvidence(browser, outDir), none) : none;
    await within(5_000, closeQuietly(browser));
    report({
      ok: false,
      failed: { step: current ?? '(between steps)', error: plain(error), stack: error?.stack ? stripColours(error.stack) : null },
      steps,
      screenshots: [...screenshots, ...evidence.screenshots],
      html: evidence.html,
    });
    process.exit(1);
  } finally {
    clearTimeout(timer);
  }
  await closeQuietly(browser);
  report({ ok: true, steps, screenshots });
}

/** The page's accessibility problems, as `[{ rule, element, detail }]` (empty when none). */
export async function accessibilityViolations(page) {
  return page.evaluate(() => {
    const violations = [];
    const describe = el => {
      let text = el.tagName.toLowerCase();
      if (el.id) text += `#${el.id}`;
      const name = el.getAttribute('name');
      if (name) text += `[name="${name}"]`;
      const type = el.getAttribute('type');
      if (type) text += `[type="${type}"]`;
      return text;
    };
    const byIds = ids =>
      ids
        .split(/\s+/)
        .filter(Boolean)
        .map(id => document.getElementById(id)?.textContent?.trim() ?? '')
        .join(' ')
        .trim();
    const hidden = el => el.closest('[hidden]') !== null || el.closest('[aria-hidden="true"]') !== null;

    const lang = document.documentElement.getAttribute('lang');
    if (!lang || !lang.trim()) violations.push({ rule: 'html-lang', element: 'html', detail: '<html> has no lang' });

    if (!document.title.trim()) violations.push({ rule: 'document-title', element: 'title', detail: 'the page has no title' });

    const h1s = [...document.querySelectorAll('h1')];
    if (h1s.length !== 1) {
      violations.push({ rule: 'one-h1', element: 'h1', detail: `${h1s.length} h1 elements, expected exactly one` });
    }

    for (const el of document.querySelectorAll('input, select, textarea')) {
      const type = (el.getAttribute('type') || '').toLowerCase();
      if (type === 'hidden' || hidden(el)) continue;
      let named;
      if (['submit', 'reset', 'button'].includes(type)) named = (el.value || el.getAttribute('aria-label') || '').trim();
      else if (type === 'image') named = (el.getAttribute('alt') || el.getAttribute('aria-label') || '').trim();
      else {
        named =
          [...(el.labels || [])].some(label => label.textContent.trim()) ||
          (el.getAttribute('aria-label') || '').trim() ||
          byIds(el.getAttribute('aria-labelledby') || '');
      }
      if (!named) violations.push({ rule: 'control-label', element: describe(el), detail: 'form control without a label' });
    }

    for (const el of document.querySelectorAll('img')) {
      if (!el.hasAttribute('alt') && !hidden(el)) {
        violations.push({ rule: 'img-alt', element: `img[src="${el.getAttribute('src')}"]`, detail: 'image without alt text' });
      }
    }

    for (const el of document.querySelectorAll('a[href], button')) {
      if (hidden(el)) continue;
      const name =
        el.textContent.trim() ||
        (el.getAttribute('aria-label') || '').trim() ||
        byIds(el.getAttribute('aria-labelledby') || '') ||
        [...el.querySelectorAll('img[alt]')].map(img => img.alt.trim()).join('');
      if (!name) violations.push({ rule: 'control-name', element: describe(el), detail: 'link or button without a name' });
    }
    return violations;
  });
}

/** Throws when the page has accessibility problems; returns the (empty) list otherwise. */
export async function assertAccessible(page) {
  const violations = await accessibilityViolations(page);
  if (violations.length) {
    const list = violations.map(v => `${v.rule}: ${v.element}: ${v.detail}`).join('; ');
    throw new Error(`accessibility problems on ${page.url()}: ${list}`);
  }
  return violations;
}

/** The element that has keyboard focus, described. */
export async function focused(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    if (!el || el === document.body) return null;
    const box = el.getBoundingClientRect();
    return {
      tag: el.tagName.toLowerCase(),
      id: el.id || null,
      className: el.className || null,
      text: el.textContent.trim(),
      href: el.getAttribute('href'),
      visible: box.width > 0 && box.height > 0 && box.right > 0 && box.bottom > 0 && box.left < innerWidth && box.top < innerHeight,
    };
  });
}

async function saveEvidence(browser, outDir) {
  const screenshots = [];
  const html = [];
  let n = 0;
  for (const context of browser.contexts()) {
    for (const page of context.pages()) {
      n += 1;
      const base = path.join(outDir, `failure-${n}`);
      try {
        await page.screenshot({ path: `${base}.png`, fullPage: true, timeout: 5_000 });
        screenshots.push(`${base}.png`);
      } catch (error) {
        console.error(`no failure screenshot of ${page.url()}: ${plain(error)}`);
      }
      try {
        writeFileSync(`${base}.html`, `<!-- ${page.url()} -->\n${await within(5_000, page.content(), '(no content)')}`);
        html.push(`${base}.html`);
      } catch (error) {
        console.error(`no failure HTML of ${page.url()}: ${plain(error)}`);
      }
    }
  }
  return { screenshots, html };
}

/** `promise`'s value, or `fallback` when it takes longer than `ms`. */
async function within(ms, promise, fallback) {
  let timer;
  const late = new Promise(resolve => {
    timer = setTimeout(() => resolve(fallback), ms);
  });
  try {
    return await Promise.race([promise.catch(() => fallback), late]);
  } finally {
    clearTimeout(timer);
  }
}

async function closeQuietly(browser) {
  try {
    await browser?.close();
  } catch {
    // Already gone.
  }
}

// Playwright's messages carry terminal colours.
function stripColours(text) {
  return text.replace(/\u001b\[[0-9;]*m/g, '');
}

function plain(error) {
  return stripColours(String(error?.message ?? error));
}

function slug(name) {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'shot';
}

function report(value) {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}
