/**
 * The dialogs' form fields, read and shown the same way in both. Node-RED itself moves each
 * property in `defaults` between the node and its `#node-input-<name>` (or, for a config node,
 * `#node-config-input-<name>`) field on open and Done; these helpers cover what it does not:
 * reading the fields while the dialog is open (Test connection), showing each default as the
 * empty field's placeholder, and rows shown only for some choices.
 */

/** How a field's value is read: trimmed text, a number (undefined when empty), a checkbox, a select's value as it is. */
export type FieldKind = 'text' | 'number' | 'checkbox' | 'select';

export type FieldValues<F extends Record<string, FieldKind>> = {
  [K in keyof F]: F[K] extends 'number' ? number | undefined : F[K] extends 'checkbox' ? boolean : string;
};

/** The fields' current values, by property name; `prefix` is `node-input-` or `node-config-input-`. */
export function readFields<F extends Record<string, FieldKind>>(prefix: string, fields: F): FieldValues<F> {
  const values: Record<string, string | number | boolean | undefined> = {};
  for (const name of Object.keys(fields)) {
    const field = $(`#${prefix}${name}`);
    switch (fields[name]) {
      case 'text':
        values[name] = field.val().trim();
        break;
      case 'number': {
        const v = field.val().trim();
        values[name] = v === '' ? undefined : Number(v);
        break;
      }
      case 'checkbox':
        values[name] = field.prop('checked');
        break;
      case 'select':
        values[name] = field.val();
        break;
    }
  }
  return values as FieldValues<F>;
}

/** Each default as its empty field's placeholder: what the runtime will use when the field stays empty. */
export function showDefaults(prefix: string, defaults: Record<string, string | number>): void {
  for (const [name, value] of Object.entries(defaults)) {
    $(`#${prefix}${name}`).attr('placeholder', String(value));
  }
}

/** Shows `row` only while `shown(control)` holds: now, and after each change of the control. */
export function showWhen(row: string, control: string, shown: (control: JQuery) => boolean): void {
  const input = $(control);
  input.on('change', () => {
    $(row).toggle(shown(input));
  }).trigger('change');
}
