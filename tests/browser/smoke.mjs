// The pages that exist without signing in: the start page (the sign-in form) and the error page, on a desktop and
// on a phone, with the stylesheet applied, keyboard access and the accessibility basics.

import assert from 'node:assert/strict';
import { PHONE, assertAccessible, focused, journey } from './lib.mjs';

// --bg in static/portico.css (light scheme); a page without the stylesheet is transparent.
const LIGHT_BACKGROUND = 'rgb(246, 247, 249)';
const DARK_BACKGROUND = 'rgb(18, 22, 28)';

const bodyBackground = page => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
const overflowsSideways = page =>
  page.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth);

await journey(async ({ page, url, step, shot, newPage }) => {
  await step('start page is the sign-in form', async () => {
    const response = await page.goto(url('/'));
    assert.equal(response.status(), 200);
    assert.equal(new URL(page.url()).pathname, '/login', 'signed out: sent to the sign-in page');
    assert.equal(await page.locator('h1').textContent(), 'Sign in');
    assert.equal(await page.title(), 'Sign in · Portico');
    const labels = (await page.locator('form label').allTextContents()).map(s => s.trim());
    await shot(page, 'home desktop');
    return { labels };
  });

  await step('stylesheet applied', async () => {
    const background = await bodyBackground(page);
    assert.equal(background, LIGHT_BACKGROUND, 'body background comes from portico.css');
    const panelBorder = await page.locator('.panel').first().evaluate(el => getComputedStyle(el).borderTopLeftRadius);
    assert.equal(panelBorder, '10px', 'panels have the stylesheet radius');
    return { background };
  });

  await step('start page accessibility', async () => ({ violations: await assertAccessible(page) }));

  await step('keyboard: skip link is the first focus target', async () => {
    await page.keyboard.press('Tab');
    const first = await focused(page);
    assert.ok(first, 'Tab moves focus into the page');
    assert.equal(first.text, 'Skip to content');
    assert.equal(first.href, '#main');
    assert.ok(first.visible, 'the skip link shows itself when focused');
    await shot(page, 'skip link focused');
    await page.keyboard.press('Enter');
    const target = await focused(page);
    assert.equal(target?.id, 'main', 'following the skip link moves focus to the main content');
    await page.keyboard.press('Tab');
    const next = await focused(page);
    return { first: first.text, afterSkip: next?.text ?? null };
  });

  await step('unknown page shows the request id', async () => {
    const response = await page.goto(url('/no/such/page'));
    assert.equal(response.status(), 404);
    const requestId = response.headers()['x-request-id'];
    assert.match(requestId ?? '', /^[0-9a-f]{32}$/);
    assert.equal(await page.locator('h1').textContent(), 'Not found');
    const line = (await page.locator('p.muted').textContent()).replace(/\s+/g, ' ').trim();
    assert.equal(line, `Error 404 · request id ${requestId}`);
    assert.equal(await bodyBackground(page), LIGHT_BACKGROUND, 'the error page is styled too');
    await shot(page, 'not found desktop');
    return { requestId };
  });

  await step('error page accessibility', async () => ({ violations: await assertAccessible(page) }));

  await step('dark colour scheme', async () => {
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.goto(url('/'));
    const background = await bodyBackground(page);
    assert.equal(background, DARK_BACKGROUND);
    await shot(page, 'home dark');
    await page.emulateMedia({ colorScheme: 'light' });
    return { background };
  });

  await step('phone viewport', async () => {
    const phone = await newPage(PHONE);
    await phone.goto(url('/'));
    assert.equal(await phone.locator('h1').textContent(), 'Sign in');
    assert.equal(await overflowsSideways(phone), false, 'the start page fits the phone width');
    await shot(phone, 'home phone');
    await phone.goto(url('/no/such/page'));
    assert.equal(await overflowsSideways(phone), false, 'the error page fits the phone width');
    await shot(phone, 'not found phone');
    await phone.context().close();
    return { width: PHONE.viewport.width };
  });
});
