/**
 * The sam2-endpoint config node in the editor: its properties and their checks, its label,
 * and its dialog's script (the service presets with their tips, Test connection). The dialog's
 * template is nodes/sam2-endpoint.html; its words are in nodes/locales/<lang>/sam2-endpoint.*.
 *
 * Adding a setting: a row in the template (`node-config-input-<name>`), its default in
 * lib/defaults.ts, an entry in `defaults` below, and in FIELDS so Test connection sends it.
 */
import { ENDPOINT_DEFAULTS } from '../../lib/defaults';
import { testEndpoint, failureMessage, type EndpointTestBody, type EndpointTestSettings } from '../shared/admin';
import { readFields, showDefaults, type FieldKind } from '../shared/fields';
import { positive, whole } from '../shared/validators';

const PREFIX = 'node-config-input-';

/** The node's properties as the editor holds them; a flow written by hand may leave any out. */
interface EndpointNode extends RED.EditorNode {
  name: string;
  service: string;
  url: string;
  modelId: string;
  timeout: number | string;
  concurrency: number | string;
  retries: number | string;
  efficient?: boolean;
  maxResponseMB: number | string;
  maxInputMP: number | string;
  caFile: string;
  modelDir: string;
  runtime: string;
  threads: number | string;
  cacheSize: number | string;
  allowVector?: boolean;
}

/** The fields Test connection reads, by property name, and how. */
const FIELDS = {
  service: 'select',
  url: 'text',
  modelId: 'text',
  timeout: 'number',
  concurrency: 'number',
  retries: 'number',
  efficient: 'checkbox',
  maxResponseMB: 'number',
  maxInputMP: 'number',
  caFile: 'text',
  modelDir: 'text',
  runtime: 'select',
  threads: 'number',
  cacheSize: 'number',
  allowVector: 'checkbox',
} as const satisfies Record<keyof EndpointTestSettings, FieldKind>;

/** The service a new endpoint starts on: the dialog's first choice (lib/defaults.ts names no default service). */
const NEW_SERVICE = 'community';

/** Node-RED shows a stored password as this placeholder; the route then uses the stored token. */
const STORED_PASSWORD = '__PWRD__';
/** White space and invisible characters that ride along with a pasted token. */
const AROUND_TOKEN = /^[\s\u200b-\u200d\u2060\ufeff]+|[\s\u200b-\u200d\u2060\ufeff]+$/g;

/** A token pasted with a newline, a space or an invisible character would fail every request: saved trimmed (the runtime trims too, and refuses what a header cannot carry). */
function save(): void {
  const token = $(`#${PREFIX}token`);
  const value = String(token.val() ?? '');
  if (value !== STORED_PASSWORD) token.val(value.replace(AROUND_TOKEN, ''));
}

function prepare(node: EndpointNode): void {
  const result = $('#sam2-endpoint-result');
  // Left out of a flow, efficient upload is on in the runtime: show it so, and keep it so on save.
  if (node.efficient === undefined) {
    $(`#${PREFIX}efficient`).prop('checked', ENDPOINT_DEFAULTS.efficient);
  }
  showDefaults(PREFIX, {
    modelId: ENDPOINT_DEFAULTS.modelId,
    timeout: ENDPOINT_DEFAULTS.timeoutS,
    concurrency: ENDPOINT_DEFAULTS.concurrency,
    retries: ENDPOINT_DEFAULTS.retries,
    maxResponseMB: ENDPOINT_DEFAULTS.maxResponseMB,
    maxInputMP: ENDPOINT_DEFAULTS.maxInputMP,
    threads: ENDPOINT_DEFAULTS.threads,
    cacheSize: ENDPOINT_DEFAULTS.cacheSize,
  });

  const service = $(`#${PREFIX}service`);
  service.on('change', () => {
    const chosen = service.val() || NEW_SERVICE;
    $('#sam2-endpoint-row-url').toggle(chosen === 'custom');
    // A model on this machine has a folder, a runtime and a cache; a remote API the rest.
    $('.sam2-endpoint-local').toggle(chosen === 'local');
    $('.sam2-endpoint-remote').toggle(chosen !== 'local');
    $('#sam2-endpoint-tip').text(node._(`sam2-endpoint.tip.${chosen}`));
  }).trigger('change');

  const button = $('#sam2-endpoint-test');
  button.on('click', () => {
    const body: EndpointTestBody = { id: node.id, settings: readFields(PREFIX, FIELDS) };
    const typed = $(`#${PREFIX}token`).val();
    if (typed !== STORED_PASSWORD) {
      body.token = typed;
    }
    button.prop('disabled', true);
    result.removeClass('sam2-endpoint-ok sam2-endpoint-failed').addClass('sam2-endpoint-running')
      .text(node._('sam2-endpoint.test.running'));
    testEndpoint(body).done((answer) => {
      result.removeClass('sam2-endpoint-running').addClass(answer.ok ? 'sam2-endpoint-ok' : 'sam2-endpoint-failed')
        .text(answer.message);
    }).fail((xhr) => {
      result.removeClass('sam2-endpoint-running').addClass('sam2-endpoint-failed')
        .text(node._('sam2-endpoint.test.failed', { message: failureMessage(xhr, String(xhr.status)) }));
    }).always(() => {
      button.prop('disabled', false);
    });
  });
}

RED.nodes.registerType<EndpointNode>('sam2-endpoint', {
  category: 'config',
  defaults: {
    name: { value: '' },
    service: { value: NEW_SERVICE },
    url: {
      value: '',
      validate(v: string | undefined) {
        return this.service !== 'custom' || /^https?:\/\/\S+$/i.test(v || '');
      },
    },
    modelId: { value: ENDPOINT_DEFAULTS.modelId },
    timeout: { value: ENDPOINT_DEFAULTS.timeoutS, validate: positive },
    concurrency: { value: ENDPOINT_DEFAULTS.concurrency, validate: whole(1) },
    retries: { value: ENDPOINT_DEFAULTS.retries, validate: whole(0) },
    efficient: { value: ENDPOINT_DEFAULTS.efficient },
    maxResponseMB: { value: ENDPOINT_DEFAULTS.maxResponseMB, validate: positive },
    maxInputMP: { value: ENDPOINT_DEFAULTS.maxInputMP, validate: positive },
    caFile: { value: '' },
    modelDir: {
      value: '',
      validate(v: string | undefined) {
        return this.service !== 'local' || Boolean((v || '').trim());
      },
    },
    runtime: { value: ENDPOINT_DEFAULTS.runtime },
    threads: { value: ENDPOINT_DEFAULTS.threads, validate: whole(0) },
    cacheSize: { value: ENDPOINT_DEFAULTS.cacheSize, validate: whole(0) },
    allowVector: { value: false },
  },
  credentials: {
    token: { type: 'password' },
  },
  paletteLabel() {
    return this._('sam2-endpoint.paletteLabel');
  },
  label() {
    if (this.name) {
      return this.name;
    }
    if (this.service === 'custom') {
      return this.url || this._('sam2-endpoint.paletteLabel');
    }
    if (this.service === 'local') {
      return `${this._('sam2-endpoint.serviceName.local')}: ${this.modelDir}`;
    }
    return this._(`sam2-endpoint.serviceName.${this.service === 'studio' ? 'studio' : 'community'}`);
  },
  oneditprepare() {
    prepare(this);
  },
  oneditsave() {
    save();
  },
});
