// The deployment files without running them (runs in `npm test`; compose.test.ts runs docker-compose.yml):
// the Kubernetes manifests against the Kubernetes API's JSON schemas (kubernetes-models' validators,
// generated from the Kubernetes OpenAPI spec), the wiring between them, and every relay setting being
// passed through by docker-compose.yml and the manifests.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Deployment } from 'kubernetes-models/apps/v1'
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2'
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1'
import { ConfigMap, Namespace, Secret, Service } from 'kubernetes-models/v1'
import { describe, expect, it } from 'vitest'
import { parse, parseAllDocuments } from 'yaml'

const repo = fileURLToPath(new URL('../../', import.meta.url))
const k8sDir = join(repo, 'deploy', 'k8s')

interface Manifest { file: string, apiVersion: string, kind: string, metadata: { name: string }, [field: string]: any }

// One validating model per kind the relay ships; anything else in deploy/k8s is a test failure.
const models: Record<string, new (data: any) => { validate: () => void }> = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
}

const manifestFiles = readdirSync(k8sDir).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort()
const manifests: Manifest[] = manifestFiles.flatMap((file) =>
  parseAllDocuments(readFileSync(join(k8sDir, file), 'utf8')).map((doc) => ({ ...doc.toJS(), file }) as Manifest))
const kustomization = parse(readFileSync(join(k8sDir, 'kustomization.yaml'), 'utf8'))

const one = (kind: string): Manifest => {
  const found = manifests.filter((m) => m.kind === kind)
  expect(found, `exactly one ${kind} in deploy/k8s`).toHaveLength(1)
  return found[0] as Manifest
}

/** The environment variables src/config/ reads (its helpers take the name as their first argument). */
function relaySettings (): string[] {
  const dir = join(repo, 'src', 'config')
  const source = readdirSync(dir).filter((f) => f.endsWith('.ts')).map((f) => readFileSync(join(dir, f), 'utf8')).join('\n')
  const names = [...source.matchAll(/\b(?:get|required|integer|list|flag|url|readKey)\('([A-Z][A-Z0-9_]*)'/g)].map((m) => m[1] as string)
  return [...new Set(names)].sort()
}

it('.env.example names every setting src/config/ reads (the README says it lists them all)', () => {
  const example = readFileSync(join(repo, '.env.example'), 'utf8')
  const named = new Set([...example.matchAll(/^#? ?([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]))
  expect(relaySettings().filter((name) => !named.has(name))).toEqual([])
})

describe('Kubernetes manifests (deploy/k8s)', () => {
  it.each(manifests.map((m) => [`${m.file}: ${m.kind} ${m.metadata?.name}`, m] as const))('%s is valid against the Kubernetes schema', (_, manifest) => {
    const Model = models[`${manifest.apiVersion}/${manifest.kind}`]
    expect(Model, `no schema known for ${manifest.apiVersion} ${manifest.kind}`).toBeDefined()
    const { file: _file, ...resource } = manifest
    expect(() => new (Model as NonNullable<typeof Model>)(resource).validate()).not.toThrow()
  })

  it('catches what the schema refuses (the validator is not a no-op)', () => {
    const { file: _file, ...deployment } = one('Deployment')
    const broken = structuredClone(deployment)
    broken.spec.replicas = 'two'
    expect(() => new Deployment(broken).validate()).toThrow(/replicas/)
  })

  it('ships each kind the relay needs, all listed in the kustomization', () => {
    expect(manifests.map((m) => m.kind).sort()).toEqual(['ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'Namespace', 'PodDisruptionBudget', 'Secret', 'Service'])
    expect([...kustomization.resources].sort()).toEqual(manifestFiles)
    const image = one('Deployment').spec.template.spec.containers[0].image
    expect(kustomization.images.map((i: { name: string }) => i.name)).toContain(image)
  })

  it('probes /healthz (liveness, startup) and /readyz (readiness) on the relay port, non-root with a read-only root', () => {
    const deployment = one('Deployment')
    const pod = deployment.spec.template.spec
    const [relay] = pod.containers
    expect(pod.containers).toHaveLength(1)
    expect(relay.ports).toEqual([{ name: 'http', containerPort: 8080 }, { name: 'metrics', containerPort: 9464 }])
    expect(relay.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' })
    expect(relay.startupProbe.httpGet).toEqual({ path: '/healthz', port: 'http' })
    expect(relay.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' })
    expect(relay.env).toContainEqual({ name: 'PORT', value: '8080' })
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000 })
    expect(relay.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } })
    expect(relay.volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' })
    expect(relay.resources.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) })
    expect(relay.resources.limits).toMatchObject({ memory: expect.any(String) })
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(30)
  })

  it('wires Service, PDB and HPA to the Deployment, and the Deployment to the ConfigMap and Secret', () => {
    const deployment = one('Deployment')
    const podLabels = deployment.spec.template.metadata.labels
    expect(deployment.spec.selector.matchLabels).toEqual(podLabels)
    expect(one('Service').spec.selector).toEqual(podLabels)
    expect(one('Service').spec.ports[0].targetPort).toBe('http')
    expect(one('PodDisruptionBudget').spec.selector.matchLabels).toEqual(podLabels)
    expect(one('PodDisruptionBudget').spec.minAvailable).toBeGreaterThanOrEqual(1)
    expect(one('HorizontalPodAutoscaler').spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata.name })
    expect(one('HorizontalPodAutoscaler').spec.minReplicas).toBeGreaterThanOrEqual(2)
    const envFrom = deployment.spec.template.spec.containers[0].envFrom
    expect(envFrom).toEqual([{ configMapRef: { name: one('ConfigMap').metadata.name } }, { secretRef: { name: one('Secret').metadata.name } }])
  })
})

describe('relay settings in the deployment files', () => {
  const settings = relaySettings()
  const compose = parse(readFileSync(join(repo, 'docker-compose.yml'), 'utf8'), { merge: true })
  const deployment = one('Deployment')
  const k8sNames = [
    ...Object.keys(one('ConfigMap').data),
    ...Object.keys(one('Secret').stringData),
    ...deployment.spec.template.spec.containers[0].env.map((e: { name: string }) => e.name),
  ]

  it('finds the settings in src/config/', () => {
    expect(settings).toEqual(expect.arrayContaining(['TENANT_ID', 'CLIENT_ID', 'CLIENT_SECRET', 'REDIS_URL', 'TOKEN_ENCRYPTION_KEY']))
  })

  it('passes every setting to both compose replicas, and nothing that is not one', () => {
    for (const replica of ['relay-a', 'relay-b']) {
      const names = Object.keys(compose.services[replica].environment).sort()
      expect(names, `${replica} in docker-compose.yml: add new settings of src/config/ to x-relay's environment`).toEqual(settings)
    }
  })

  it('has every setting in the ConfigMap, the Secret or the Deployment, once, and nothing that is not one', () => {
    expect([...k8sNames].sort(), 'deploy/k8s: add new settings of src/config/ to configmap.yaml (secrets: secret.yaml)').toEqual(settings)
    expect(Object.keys(one('Secret').stringData).sort()).toEqual(['AGENT_REGISTRATION_INITIAL_ACCESS_TOKEN', 'AGENT_RESOURCE_SERVER_CLIENTS', 'CLIENT_SECRET', 'METRICS_BEARER_TOKEN', 'OPERATOR_API_TOKEN', 'REDIS_URL', 'TOKEN_ENCRYPTION_KEY', 'TOKEN_ENCRYPTION_KEY_PREVIOUS'])
  })
})

describe('docker-compose.yml', () => {
  const compose = parse(readFileSync(join(repo, 'docker-compose.yml'), 'utf8'), { merge: true })
  const services = compose.services as Record<string, any>

  it('runs two replicas of one image behind one published port, with healthchecks everywhere', () => {
    expect(services['relay-a'].image).toBe(services['relay-b'].image)
    expect(services['relay-a'].build.target).toBe('runtime')
    const published = Object.entries(services).filter(([, s]) => s.ports !== undefined && s.profiles === undefined)
    expect(published.map(([name]) => name)).toEqual(['lb'])
    for (const [name, service] of Object.entries(services)) expect(service.healthcheck?.test, `${name} healthcheck`).toBeDefined()
  })

  it('keeps Redis data on a named volume with an append-only file', () => {
    expect(services.redis.volumes).toContain('redis-data:/data')
    expect(services.redis.command.join(' ')).toContain('--appendonly yes')
    expect(Object.keys(compose.volumes)).toContain('redis-data')
  })

  it('puts the emulator and sample servers in the dev profile, reachable by the names relays use', () => {
    expect(services['dev-services'].profiles).toEqual(['dev'])
    expect(services['dev-services'].build.target).toBe('dev')
    expect(services['dev-services'].networks.default.aliases).toEqual(['emulator', 'notes', 'calendar'])
    const devEnv = readFileSync(join(repo, 'deploy', 'compose', 'dev.env'), 'utf8')
    expect(devEnv).toContain('AUTHORITY_HOST=https://emulator:8443')
    expect(services['dev-services'].environment.EMULATOR_PUBLIC_URL).toBe('https://emulator:8443')
  })
})
