// Finds or provisions the Chromium the browser test drives: CHROMIUM_PATH, Debian's, apt-get, then a browser shipped in an npm package.
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { brotliDecompressSync } from 'node:zlib'
import { aptInstall, canUseApt } from './apt.ts'
import { isExecutable, runCommand, secondsSince } from './run.ts'

export interface Provisioned { path: string, how: string }

const DEBIAN_CHROMIUM = '/usr/bin/chromium'
// Ships chrome-headless-shell inside the package (no download at install time); pinned so the cache stays valid.
const NPM_CHROMIUM = { name: '@sparticuz/chromium', version: '153.0.0' }

export async function provisionChromium (options: { chromiumPath?: string | undefined, cacheDir?: string } = {}): Promise<Provisioned> {
  if (options.chromiumPath !== undefined && options.chromiumPath !== '') {
    if (!isExecutable(options.chromiumPath)) throw new Error(`CHROMIUM_PATH=${options.chromiumPath} is not an executable file`)
    return { path: options.chromiumPath, how: `chromium from CHROMIUM_PATH at ${options.chromiumPath}` }
  }
  if (isExecutable(DEBIAN_CHROMIUM)) return { path: DEBIAN_CHROMIUM, how: `chromium found at ${DEBIAN_CHROMIUM}` }

  const failures: string[] = []
  if (canUseApt()) {
    const started = performance.now()
    const apt = await aptInstall(['chromium'])
    if (apt.installed && isExecutable(DEBIAN_CHROMIUM)) return { path: DEBIAN_CHROMIUM, how: `installed chromium with apt-get (${secondsSince(started)})` }
    failures.push(apt.installed ? `apt-get installed chromium but ${DEBIAN_CHROMIUM} is missing` : apt.reason)
  } else {
    failures.push('apt-get: not root or apt-get not found')
  }

  try {
    return await provisionNpmChromium(options.cacheDir ?? defaultCacheDir())
  } catch (error) {
    failures.push(`npm ${NPM_CHROMIUM.name}: ${(error as Error).message}`)
  }
  throw new Error('Chromium for the browser test was not found and could not be installed. Install Debian\'s chromium ' +
    `(as root: apt-get install chromium) or set CHROMIUM_PATH to a Chromium binary.\n${failures.join('\n')}`)
}

export function defaultCacheDir (): string {
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'obo-relay', 'test-tools')
}

/** Installs the npm package into a cache dir (not the project), unpacks the browser and writes a launcher that finds its libraries. */
export async function provisionNpmChromium (cacheDir: string): Promise<Provisioned> {
  const label = `${NPM_CHROMIUM.name}@${NPM_CHROMIUM.version}`
  const home = join(cacheDir, `sparticuz-chromium-${NPM_CHROMIUM.version}`)
  const launcher = join(home, 'chromium')
  if (isExecutable(launcher) && await launches(launcher)) return { path: launcher, how: `chromium found at ${launcher} (${label}, cached)` }

  const started = performance.now()
  // Build in a private dir and rename it into place, so concurrent test runs never see half an install.
  const staging = `${home}.${process.pid}`
  await rm(staging, { recursive: true, force: true })
  try {
    const packageDir = join(staging, 'package')
    const browserDir = join(staging, 'browser')
    await mkdir(packageDir, { recursive: true })
    await mkdir(join(browserDir, 'al2023'), { recursive: true })
    const npm = await runCommand('npm', ['install', '--prefix', packageDir, '--no-save', '--no-package-lock', '--no-audit', '--no-fund', label])
    if (npm.exitCode !== 0) throw new Error(`npm install ${label} failed:\n${npm.output}`)
    // The package unpacks the browser into os.tmpdir(); point that at our dir.
    const unpack = await runCommand(process.execPath, ['--input-type=module', '-e', `import c from '${NPM_CHROMIUM.name}'; await c.executablePath()`], {
      cwd: packageDir,
      env: { ...process.env, TMPDIR: browserDir },
    })
    if (unpack.exitCode !== 0) throw new Error(`unpacking the browser failed:\n${unpack.output}`)
    // Its NSS/NSPR libraries (built for Amazon Linux) make it independent of the machine's.
    const libsTar = join(staging, 'al2023.tar')
    await writeFile(libsTar, brotliDecompressSync(await readFile(join(packageDir, 'node_modules', NPM_CHROMIUM.name, 'bin', 'al2023.tar.br'))))
    const tar = await runCommand('tar', ['-xf', libsTar, '-C', join(browserDir, 'al2023')])
    if (tar.exitCode !== 0) throw new Error(`unpacking its libraries failed:\n${tar.output}`)
    await rm(libsTar)
    const finalBrowserDir = join(home, 'browser')
    // Its fonts.conf names Lambda's paths; without fonts, text has no width and links are "not visible".
    await writeFile(join(browserDir, 'fonts', 'fonts.conf'), '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n' +
      `<fontconfig><dir>${finalBrowserDir}/fonts/fonts</dir><dir>/usr/share/fonts</dir><cachedir>${finalBrowserDir}/fonts-cache</cachedir></fontconfig>\n`)
    await writeFile(join(staging, 'chromium'), [
      '#!/bin/sh',
      `export LD_LIBRARY_PATH="${finalBrowserDir}/al2023/lib\${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"`,
      `export FONTCONFIG_PATH="${finalBrowserDir}/fonts"`,
      `exec "${finalBrowserDir}/chromium" "$@"`,
      '',
    ].join('\n'), { mode: 0o755 })
    // A concurrent run may have finished first: keep its working copy (its tests may be using it).
    if (isExecutable(launcher) && await launches(launcher)) return { path: launcher, how: `chromium found at ${launcher} (${label}, installed by a concurrent run)` }
    await rm(home, { recursive: true, force: true })
    await rename(staging, home)
  } finally {
    await rm(staging, { recursive: true, force: true })
  }
  if (!await launches(launcher)) throw new Error(`${launcher} does not start`)
  return { path: launcher, how: `installed chromium from npm ${label} into ${home} (${secondsSince(started)})` }
}

async function launches (browser: string): Promise<boolean> {
  return (await runCommand(browser, ['--version'])).exitCode === 0
}
