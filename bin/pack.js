// Packs the packages npm would publish, as napi-rs lays them out: the main package (JavaScript,
// types, and the Rust sources with the lock file, for building from source where no prebuilt binary
// fits) whose optionalDependencies name one package per platform, and the platform package with
// the stripped addon. Only linux-x64-gnu can be built here.
//
//   node bin/pack.js [--out dist] [--glibc 2.17]
//
// --glibc builds the addon with cargo-zigbuild (cargo-zigbuild and zig on PATH, e.g. from PyPI's
// `cargo-zigbuild` and `ziglang`) against that glibc version; without it the addon `npm run build`
// made for this machine is packed, which needs this machine's glibc. Prints the tarballs' paths as
// JSON on stdout.
'use strict'
const { execFileSync, spawnSync } = require('node:child_process')
const { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } = require('node:fs')
const { join, resolve } = require('node:path')
const { binaryFile, platformPackage, platformTag } = require('../lib/platform')

const root = join(__dirname, '..')
const TAG = 'linux-x64-gnu'
const TRIPLE = 'x86_64-unknown-linux-gnu'

function option(name) {
  const at = process.argv.indexOf(name)
  return at === -1 ? undefined : process.argv[at + 1]
}

function run(cmd, args, opts = {}) {
  const done = spawnSync(cmd, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], ...opts })
  if (done.error) throw new Error(`pack: cannot run ${cmd}: ${done.error.message}`)
  if (done.status !== 0) throw new Error(`pack: ${cmd} ${args.join(' ')} exited with ${done.status}`)
}

/** The unstripped addon: built against `glibc` with zig, or the one `npm run build` left here. */
function addon(glibc) {
  if (glibc) {
    if (!/^2\.\d+$/.test(glibc)) throw new Error(`pack: --glibc takes a version like 2.17, not ${glibc}`)
    const targetDir = join(root, 'target', 'zig')
    run('cargo', ['zigbuild', '--release', '--locked', '--lib', '--target', `${TRIPLE}.${glibc}`, '--target-dir', targetDir], {
      stdio: ['ignore', process.stderr, 'inherit'],
    })
    return join(targetDir, TRIPLE, 'release', 'libswarm_persistence.so')
  }
  const built = join(root, binaryFile(TAG))
  if (!existsSync(built)) throw new Error(`pack: ${binaryFile(TAG)} is not built; run \`npm run build\` or pass --glibc`)
  return built
}

/** The newest glibc symbol version the ELF file at `path` needs, e.g. "2.17". */
function glibcNeeded(path) {
  const symbols = execFileSync('objdump', ['-T', path], { encoding: 'utf8', maxBuffer: 64 << 20 })
  const versions = [...symbols.matchAll(/GLIBC_(\d+)\.(\d+)/g)].map((m) => [Number(m[1]), Number(m[2])])
  versions.sort((a, b) => a[0] - b[0] || a[1] - b[1])
  const last = versions.at(-1)
  return last ? `${last[0]}.${last[1]}` : null
}

/**
 * The functions the ELF file at `path` needs from the C library without a symbol version, other
 * than weak ones: a function newer than the glibc it was linked against (e.g. `gettid`, 2.30, in
 * a build against 2.17) is left so, and the addon then fails to load on an older glibc with
 * "undefined symbol". Node-API functions are looked up at run time, so none is expected.
 */
function unversionedImports(path) {
  const symbols = execFileSync('objdump', ['-T', path], { encoding: 'utf8', maxBuffer: 64 << 20 })
  return symbols
    .split('\n')
    .filter((line) => line.includes('*UND*'))
    .map((line) => /^[0-9a-f]+ (.{7}) \*UND\*\s+[0-9a-f]+\s+(\(\S+\)\s+)?(\S+)$/.exec(line))
    .filter((m) => m && !m[2] && !m[1].includes('w') && !/^(napi|node_api)_/.test(m[3]))
    .map((m) => m[3])
}

/** `npm pack` of the folder `dir` into `out`; returns the tarball's path. */
function npmPack(dir, out) {
  const json = execFileSync('npm', ['pack', '--json', '--pack-destination', out], { cwd: dir, encoding: 'utf8' })
  return join(out, JSON.parse(json)[0].filename)
}

function main() {
  if (platformTag() !== TAG) throw new Error(`pack: only ${TAG} binaries can be built here, this is ${platformTag()}`)
  const out = resolve(root, option('--out') ?? 'dist')
  const stage = join(out, 'stage')
  rmSync(stage, { recursive: true, force: true })
  mkdirSync(stage, { recursive: true })
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))

  // The platform package: its manifest from npm/<tag>, the version of the main package, the addon.
  const platformDir = join(stage, TAG)
  cpSync(join(root, 'npm', TAG), platformDir, { recursive: true })
  const platformManifest = JSON.parse(readFileSync(join(platformDir, 'package.json'), 'utf8'))
  platformManifest.version = pkg.version
  writeFileSync(join(platformDir, 'package.json'), `${JSON.stringify(platformManifest, null, 2)}\n`)
  const binary = join(platformDir, binaryFile(TAG))
  copyFileSync(addon(option('--glibc')), binary)
  run('strip', ['--strip-all', binary])

  // The main package: the files `npm pack` would take from the checkout, and a manifest whose
  // optionalDependencies point at the platform packages (what `napi pre-publish` writes).
  const mainDir = join(stage, 'main')
  const listed = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json'], { cwd: root, encoding: 'utf8' }))[0].files
  for (const { path } of listed) {
    mkdirSync(join(mainDir, path, '..'), { recursive: true })
    copyFileSync(join(root, path), join(mainDir, path))
  }
  const mainManifest = { ...pkg, optionalDependencies: { [platformPackage(TAG)]: pkg.version } }
  // In the published package only the install step runs; the other scripts are the checkout's.
  delete mainManifest.devDependencies
  mainManifest.scripts = { install: pkg.scripts.install }
  writeFileSync(join(mainDir, 'package.json'), `${JSON.stringify(mainManifest, null, 2)}\n`)

  const glibc = glibcNeeded(binary)
  const unversioned = unversionedImports(binary)
  if (unversioned.length) {
    throw new Error(`pack: the addon needs ${unversioned.join(', ')} without a glibc version: a function newer than the glibc it was linked against, so it would not load there`)
  }
  const tarballs = { main: npmPack(mainDir, out), [TAG]: npmPack(platformDir, out), glibc }
  rmSync(stage, { recursive: true, force: true })
  console.error(`pack: ${binaryFile(TAG)} needs glibc >= ${glibc}`)
  process.stdout.write(`${JSON.stringify(tarballs)}\n`)
}

main()
