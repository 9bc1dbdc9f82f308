/**
 * The parts of Node-RED's editor page these dialogs use, typed by hand: the `RED` global and
 * the jQuery (3.x) the editor ships as `$`. Only what editor/ calls is here, as the editor
 * (4.x and 5.x) documents or behaves; add a member when a dialog needs one rather than
 * pulling in @types/jquery or a Node-RED editor type package.
 */

interface JQuery {
  /** The elements found, by index. */
  readonly [index: number]: HTMLElement;
  /** The value of an input, textarea or single select. Typed as a string: these dialogs read only their own fields, which exist while the dialog is open. */
  val(): string;
  val(value: string | number): JQuery;
  text(): string;
  text(value: string): JQuery;
  prop(name: 'checked' | 'disabled'): boolean;
  prop(name: 'checked' | 'disabled', value: boolean): JQuery;
  attr(name: string): string | undefined;
  attr(name: string, value: string): JQuery;
  css(name: string, value: string): JQuery;
  addClass(names: string): JQuery;
  removeClass(names: string): JQuery;
  toggleClass(names: string, on: boolean): JQuery;
  toggle(shown: boolean): JQuery;
  show(): JQuery;
  hide(): JQuery;
  is(selector: string): boolean;
  /** Content width in CSS pixels; undefined for an empty set. */
  width(): number | undefined;
  empty(): JQuery;
  children(): JQuery;
  append(content: JQuery | string): JQuery;
  appendTo(target: JQuery): JQuery;
  on(events: string, handler: (this: HTMLElement, event: Event) => void): JQuery;
  trigger(event: string): JQuery;
  /** Node-RED's typed input widget (msg., flow., ...) on a text input. */
  typedInput(options: { default: string; types: string[] }): JQuery;
}

/** What jQuery hands a failed request's handlers. */
interface JQueryXHR {
  readonly status: number;
  readonly statusText: string;
  /** The body, parsed, when the server answered JSON. */
  readonly responseJSON?: unknown;
  getResponseHeader(name: string): string | null;
  abort(): void;
}

/** A request in flight, as `$.ajax` returns it. */
interface JQueryRequest<T> extends JQueryXHR {
  done(handler: (answer: T) => void): JQueryRequest<T>;
  fail(handler: (xhr: JQueryXHR, textStatus: string) => void): JQueryRequest<T>;
  always(handler: () => void): JQueryRequest<T>;
}

interface JQueryAjaxSettings<T> {
  /** Relative to the editor's page, so admin routes work under any httpAdminRoot. */
  url: string;
  type: 'GET' | 'POST';
  contentType?: string;
  data?: string;
  dataType?: 'json';
  cache?: boolean;
  xhr?: () => XMLHttpRequest;
  xhrFields?: { responseType?: XMLHttpRequestResponseType };
  success?: (answer: T, textStatus: string, xhr: JQueryXHR) => void;
  error?: (xhr: JQueryXHR, textStatus: string) => void;
}

interface JQueryStatic {
  (selector: string | HTMLElement): JQuery;
  /** Node-RED's editor sets its login token on every jQuery request (`$.ajaxSetup`): admin routes must go through here, not fetch(). */
  ajax<T = unknown>(settings: JQueryAjaxSettings<T>): JQueryRequest<T>;
}

declare const $: JQueryStatic;

declare namespace RED {
  /** Every node in the editor, as `this` in a node definition's functions. */
  interface EditorNode {
    id: string;
    type: string;
    name?: string;
    /** The node's height on the workspace, once drawn. */
    h?: number;
    changed?: boolean;
    dirty?: boolean;
    valid?: boolean;
    /** The node's own message catalogue (its locales/<lang>/<type>.json). */
    _(key: string, substitutions?: Record<string, string | number>): string;
  }

  interface PropertyDefinition<N> {
    value: unknown;
    required?: boolean;
    /** A config node type: the editor then shows a picker of those nodes. */
    type?: string;
    validate?: (this: N, value: any) => boolean;
  }

  interface NodeDefinition<N extends EditorNode> {
    category: string;
    color?: string;
    icon?: string;
    inputs?: number;
    outputs?: number;
    defaults: { [P in Exclude<keyof N, keyof EditorNode> | 'name']?: PropertyDefinition<N> };
    credentials?: Record<string, { type: 'text' | 'password' }>;
    paletteLabel?: string | ((this: N) => string);
    label?: (this: N) => string;
    labelStyle?: (this: N) => string;
    outputLabels?: (this: N, index: number) => string;
    button?: { toggle?: string; onclick: (this: N) => void };
    onpaletteadd?: () => void;
    oneditprepare?: (this: N) => void;
    oneditsave?: (this: N) => void;
    oneditcancel?: (this: N) => void;
    oneditresize?: (this: N, size: { width: number; height: number }) => void;
  }

  interface Tabs {
    addTab(tab: { id: string; label: string }): void;
  }

  interface HistoryEvent {
    t: 'edit';
    node: EditorNode;
    changes: Record<string, unknown>;
    dirty: boolean;
    changed?: boolean;
    callback?: (event: { node: EditorNode }) => void;
  }

  const nodes: {
    registerType<N extends EditorNode>(type: string, definition: NodeDefinition<N>): void;
    node(id: string): EditorNode | null;
    dirty(): boolean;
    dirty(value: boolean): void;
  };
  const validators: {
    /** Valid when a number; with `blankAllowed`, also when empty. */
    number(blankAllowed?: boolean): (value: unknown) => boolean;
  };
  const utils: {
    /** The text with HTML's special characters escaped. */
    sanitize(text: string): string;
  };
  const tabs: {
    create(options: { id: string; onchange: (tab: { id: string }) => void }): Tabs;
  };
  const history: { push(event: HistoryEvent): void };
  const view: { redraw(): void };
  /**
   * The editor's hooks, by `<hook>.<label>`. `viewRedrawNode` runs for every node each time the
   * workspace is drawn, after the editor has placed the node's parts (`el`: the node's SVG group).
   */
  const hooks: {
    add(id: 'viewRedrawNode.sam2-segment', handler: (event: { node: EditorNode; el: SVGGElement }) => void): void;
  };
  const comms: { subscribe(topic: string, handler: (topic: string, data: unknown) => void): void };
  function notify(message: string, options: 'error' | { type: 'success' | 'warning' | 'error'; timeout?: number }): void;
}
