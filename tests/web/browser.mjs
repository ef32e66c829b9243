// Drives Debian's chromium (playwright-core, no browser download) through connvault's
// connect page and console, as the Rust test tests/it/web/browser/ sets them up.
// Every page visited is checked with axe-core (no serious or critical violation),
// scanned for every secret the test recorded (HTML and URL), and saved as a
// screenshot. Usage: node browser.mjs <config.json>. Exits non-zero on any failure.

import { readFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const secrets = JSON.parse(readFileSync(config.secrets_file, 'utf8'));
mkdirSync(config.screenshots, { recursive: true });

const failures = [];
function check(ok, what) {
  if (!ok) failures.push(what);
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
}

// The link tokens are in the connect pages' own URLs by design (the link is the
// credential); every other secret may be in no URL, and none in any page.
async function inspect(page, name) {
  const html = await page.content();
  const url = page.url();
  const inPage = secrets.filter((s) => html.includes(s)).length;
  check(inPage === 0, `${name}: none of ${secrets.length} secrets in the page (${inPage} found)`);
  const inUrl = secrets.filter((s) => url.includes(s) && !config.link_tokens.includes(s)).length;
  check(inUrl === 0, `${name}: no secret in the URL (${inUrl} found)`);
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length }));
  });
  const serious = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  check(serious.length === 0, `${name}: axe finds no serious or critical violation ${JSON.stringify(serious)}`);
  await page.screenshot({ path: `${config.screenshots}/${name}.png`, fullPage: true });
}

const browser = await chromium.launch({
  executablePath: config.chromium,
  args: ['--no-sandbox', '--disable-dev-shm-usage'],
});

async function newContext(options = {}) {
  return browser.newContext(options);
}

try {
  // 1. The end user connects an API-key provider with the form, on a phone.
  {
    const context = await newContext({ viewport: { width: 390, height: 844 }, isMobile: true });
    const page = await context.newPage();
    await page.goto(`${config.base}${config.form_link}`);
    check((await page.locator('h1').innerText()).includes('Connect Acme CRM'), 'connect page names the provider');
    check((await page.content()).includes(new URL(config.return_origin).hostname), 'connect page names the return host');
    const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
    check(scrollWidth <= 390, `connect page fits a phone (${scrollWidth}px)`);
    await inspect(page, 'connect-form');
    await page.getByLabel('API key').fill(config.bad_key);
    await page.getByRole('button', { name: 'Connect Acme CRM' }).click();
    check((await page.locator('#problem').innerText()).includes('refused'), 'a rejected key shows a form error');
    check(!(await page.content()).includes(config.bad_key), 'the rejected key is not in the page');
    await inspect(page, 'connect-rejected');
    await page.getByLabel('API key').fill(config.good_key);
    await page.getByRole('button', { name: 'Connect Acme CRM' }).click();
    check((await page.locator('h1').innerText()).includes('is connected'), 'a working key connects');
    await inspect(page, 'connect-success');
    await page.locator('#return').click();
    await page.waitForURL(`${config.return_origin}/**`);
    const back = new URL(page.url());
    check(back.searchParams.get('status') === 'connected' && back.searchParams.get('connection_id'), `back in the app with the connection (${back.search})`);
    console.log(`RESULT form_connection=${back.searchParams.get('connection_id')}`);
    await page.goto(`${config.base}${config.form_link}`);
    check((await page.content()).includes('already been used'), 'the link works once');
    await inspect(page, 'connect-used');
    await context.close();
  }

  // 2. The end user connects through OAuth against the test authorization server, in
  //    dark mode; back from the provider the page says so in words.
  {
    const context = await newContext({ colorScheme: 'dark' });
    const page = await context.newPage();
    await page.goto(`${config.base}${config.oauth_link}`);
    await inspect(page, 'connect-oauth');
    const seen = [];
    page.on('framenavigated', (f) => { if (f === page.mainFrame()) { const u = new URL(f.url()); seen.push(u.origin + u.pathname); }; });
    await page.getByRole('button', { name: 'Continue to Test IdP' }).click();
    try {
      await page.waitForURL(`${config.base}/oauth/callback/**`, { timeout: 15000 });
    } catch (err) {
      throw new Error(`OAuth did not come back; went through ${seen.join(' → ')}`);
    }
    check((await page.locator('h1').innerText()).includes('Test IdP is connected'), 'the OAuth result page says connected');
    check((await page.locator('#outcome').innerText()).includes('connected'), 'the outcome is in words');
    await inspect(page, 'oauth-result');
    await page.locator('#return').click();
    await page.waitForURL(`${config.return_origin}/**`);
    const back = new URL(page.url());
    check(back.searchParams.get('status') === 'connected', `OAuth connects (${back.search})`);
    console.log(`RESULT oauth_connection=${back.searchParams.get('connection_id')}`);
    await context.close();
  }

  // 2b. A picker link: the end user chooses the client-credentials provider, types a
  //     wrong secret (refused by its token endpoint), then the right one.
  {
    const context = await newContext({ viewport: { width: 390, height: 844 }, isMobile: true });
    const page = await context.newPage();
    await page.goto(`${config.base}${config.picker_link}`);
    check((await page.locator('h1').innerText()).includes('Connect an account'), 'the picker shows');
    for (const name of ['Acme CRM', 'Test IdP', 'Test Service']) {
      check((await page.getByRole('button', { name }).count()) === 1, `the picker offers ${name}`);
    }
    check((await page.content()).includes(new URL(config.return_origin).hostname), 'the picker names the return host');
    await inspect(page, 'connect-picker');
    await page.getByRole('button', { name: 'Test Service' }).click();
    check((await page.locator('h1').innerText()).includes('Connect Test Service'), 'choosing leads to the provider');
    check((await page.getByRole('link', { name: /docs/ }).getAttribute('href')).startsWith('https://docs.test-service.example/'), 'the docs link');
    await inspect(page, 'connect-client-credentials');
    await page.getByLabel('Service account ID').fill(config.cc_client_id);
    await page.getByLabel('Client secret').fill(config.cc_bad_secret);
    await page.getByRole('button', { name: 'Connect Test Service' }).click();
    check((await page.locator('#problem').innerText()).includes('refused'), 'a wrong client secret shows a form error');
    await inspect(page, 'connect-client-credentials-rejected');
    await page.getByLabel('Service account ID').fill(config.cc_client_id);
    await page.getByLabel('Client secret').fill(config.cc_client_secret);
    await page.getByRole('button', { name: 'Connect Test Service' }).click();
    check((await page.locator('h1').innerText()).includes('Test Service is connected'), 'the right client secret connects');
    await page.locator('#return').click();
    await page.waitForURL(`${config.return_origin}/**`);
    const back = new URL(page.url());
    console.log(`RESULT cc_connection=${back.searchParams.get('connection_id')}`);
    await context.close();
  }

  // 2c. The end user picks the OAuth provider and denies consent: the page says so.
  {
    const context = await newContext();
    const page = await context.newPage();
    // The authorization server denies when login_hint is "deny": add it to the
    // redirect connvault answers "Continue" with (redirects themselves are not routed).
    await page.route(`${config.base}/connect/**`, async (route) => {
      if (route.request().method() !== 'POST') return route.continue();
      const response = await route.fetch({ maxRedirects: 0 });
      const to = new URL(response.headers()['location']);
      to.searchParams.set('login_hint', 'deny');
      return route.fulfill({ status: 303, headers: { location: to.toString() } });
    });
    await page.goto(`${config.base}${config.deny_link}`);
    await page.getByRole('button', { name: 'Test IdP' }).click();
    await page.getByRole('button', { name: 'Continue to Test IdP' }).click();
    await page.waitForURL(`${config.base}/oauth/callback/**`, { timeout: 15000 });
    check((await page.locator('#outcome').innerText()).includes('did not allow access'), 'denied consent is said in words');
    await inspect(page, 'oauth-denied');
    const back = new URL(await page.locator('#return').getAttribute('href'));
    check(back.searchParams.get('error') === 'access_denied', `the way back carries the error (${back.search})`);
    console.log(`RESULT denied_session=${back.searchParams.get('connect_session_id')}`);
    await context.close();
  }

  // 3. The admin signs in, makes a connection default, tests it, disconnects it, reads the log.
  const admin = await newContext();
  {
    const page = await admin.newPage();
    await page.goto(`${config.base}/console`);
    check(page.url().endsWith('/console/sign-in'), 'the console asks to sign in');
    await inspect(page, 'console-sign-in');
    await page.getByLabel('API key').fill(config.admin_key);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`**/console/tenants/${config.tenant}`);
    await inspect(page, 'console-integrations');
    await page.goto(`${config.base}/console/tenants/${config.tenant}/connections/${config.second_connection}`);
    await inspect(page, 'console-connection');
    await page.getByRole('button', { name: 'Make default' }).click();
    check((await page.locator('#notice').innerText()).includes('now the default'), 'make default');
    await page.getByRole('button', { name: 'Test' }).click();
    check((await page.locator('#notice').innerText()).includes('Test passed'), 'test');
    await page.getByRole('button', { name: 'Disconnect' }).click();
    check((await page.locator('#notice').innerText()).includes('Disconnected'), 'disconnect');
    check((await page.locator('#health').innerText()).startsWith('revoked'), 'the connection is revoked');
    await inspect(page, 'console-connection-disconnected');
    await page.goto(`${config.base}/console/tenants/${config.tenant}/activity`);
    const log = await page.locator('table').innerText();
    for (const entry of ['default changed', 'test succeeded', 'disconnected', 'connected']) {
      check(log.includes(entry), `the activity log shows "${entry}"`);
    }
    await page.getByLabel('Action').selectOption('disconnected');
    await page.getByRole('button', { name: 'Filter' }).click();
    const filtered = await page.locator('tbody').innerText();
    check(filtered.includes('disconnected') && !filtered.includes('test succeeded'), 'the activity log filters');
    await inspect(page, 'console-activity');
    // 5. A POST without the CSRF token, with the admin's session: refused.
    const forged = await admin.request.post(`${config.base}/console/tenants/${config.tenant}/connections/${config.first_connection}/disconnect`, { form: {}, maxRedirects: 0 });
    check(forged.status() === 403, `a POST without its CSRF token is refused (${forged.status()})`);

    // Blocked operations, with their reason and a next step that leads somewhere.
    await page.getByRole('link', { name: 'Operations' }).click();
    check((await page.locator('main').innerText()).includes('no connection of this provider'), 'a blocked operation shows its reason');
    await inspect(page, 'console-operations');
    await page.getByRole('link', { name: 'Connect Stripe' }).first().click();
    check(page.url().endsWith(`/console/tenants/${config.tenant}#p-stripe`), `the next step leads to the provider (${page.url()})`);

    // Outbound deliveries: the failed one is retried.
    await page.goto(`${config.base}/console/tenants/${config.tenant}/deliveries`);
    await inspect(page, 'console-endpoints');
    await page.goto(`${config.base}/console/tenants/${config.tenant}/deliveries/${config.endpoint}`);
    for (let i = 0; i < 50 && !(await page.content()).includes('failed'); i++) {
      await page.waitForTimeout(200);
      await page.reload();
    }
    check((await page.locator('tbody').innerText()).includes('failed'), 'the failed delivery is listed');
    await inspect(page, 'console-deliveries');
    await page.getByRole('button', { name: /^Retry delivery/ }).first().click();
    check((await page.locator('#notice').innerText()).includes('sent again'), 'an admin retries a delivery');

    // Inbound webhook events: the signed delivery posted by the test.
    await page.goto(`${config.base}/console/tenants/${config.tenant}/webhook-events`);
    check((await page.locator('tbody').innerText()).includes('push'), 'the inbound webhook event is listed');
    await inspect(page, 'console-webhook-events');

    // Sign-out ends the session on the server: a copy of its cookie is refused.
    const saved = await admin.cookies();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL('**/console/sign-in');
    const copy = await newContext();
    await copy.addCookies(saved);
    const again = await copy.newPage();
    await again.goto(`${config.base}/console/tenants/${config.tenant}`);
    check(again.url().endsWith('/console/sign-in'), `a copied cookie is refused after sign-out (${again.url()})`);
    await copy.close();
  }

  // 4. The viewer sees no actions, and a forged POST from its session is refused.
  {
    const viewer = await newContext();
    const page = await viewer.newPage();
    await page.goto(`${config.base}/console/sign-in`);
    await page.getByLabel('API key').fill(config.viewer_key);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`**/console/tenants/${config.tenant}`);
    check((await page.getByRole('button').count()) === 1, 'the viewer sees only "Sign out"');
    await page.goto(`${config.base}/console/tenants/${config.tenant}/connections/${config.first_connection}`);
    check((await page.getByRole('button').count()) === 1, 'the viewer sees no action on a connection');
    await inspect(page, 'console-viewer');
    const csrf = await page.locator('input[name=csrf]').first().getAttribute('value');
    const forged = await viewer.request.post(`${config.base}/console/tenants/${config.tenant}/connections/${config.first_connection}/disconnect`, { form: { csrf }, maxRedirects: 0 });
    check(forged.status() === 403, `a viewer's forged POST is refused (${forged.status()})`);
    await page.goto(`${config.base}/console/tenants/${config.tenant}/deliveries/${config.endpoint}`);
    check((await page.getByRole('button').count()) === 1, 'the viewer sees no retry button');
    await inspect(page, 'console-viewer-deliveries');
    const deliveries = await viewer.request.post(`${config.base}/console/tenants/${config.tenant}/deliveries/${config.endpoint}/${config.endpoint}/retry`, { form: { csrf }, maxRedirects: 0 });
    check(deliveries.status() === 403, `a viewer's forged retry is refused (${deliveries.status()})`);
    await viewer.close();
  }

  // The operator's pages.
  {
    const operator = await newContext();
    const page = await operator.newPage();
    await page.goto(`${config.base}/console/sign-in`);
    await page.getByLabel('API key').fill(config.operator_key);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL('**/console/tenants');
    await inspect(page, 'console-tenants');
    for (const name of ['keys', 'catalog', 'oauth-apps', 'data-keys']) {
      await page.goto(`${config.base}/console/${name}`);
      await inspect(page, `console-${name}`);
    }
    await operator.close();
  }
  await admin.close();
} catch (err) {
  failures.push(String(err && err.stack ? err.stack : err));
  console.log(`FAIL ${err}`);
} finally {
  await browser.close();
}

if (failures.length) {
  console.log(`${failures.length} failure(s):\n${failures.join('\n')}`);
  process.exit(1);
}
console.log('all browser checks passed');
