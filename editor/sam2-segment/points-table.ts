/**
 * The prompts as numbers under the picker: a table of the points (x, y, foreground or
 * background, remove) with an Add button, and the box's four fields. Typing here changes the
 * same Prompts the picker draws; a field typed in keeps its focus (the table is not redrawn).
 */
import { FOREGROUND, BACKGROUND } from './picker-canvas';
import type { Box, FrameSize, Prompts } from './prompts';

const BOX_FIELDS = ['x1', 'y1', 'x2', 'y2'] as const;

export interface PointsTableEvents {
  /** `keepFields`: the change came from a field being typed in, which must keep its focus. */
  promptsChanged(keepFields?: boolean): void;
  /** The frame on show, for a point added by the button. */
  frame(): FrameSize | null;
}

export class PointsTable {
  constructor(
    private readonly prompts: Prompts,
    private readonly _: RED.EditorNode['_'],
    private readonly events: PointsTableEvents,
  ) {
    $('.sam2-segment-box input').on('change', () => {
      this.readBox();
      events.promptsChanged(true);
    });
    $('#sam2-segment-box-clear').on('click', () => {
      prompts.box = null;
      events.promptsChanged();
    });
    $('#sam2-segment-add-point').on('click', () => {
      const [x, y] = prompts.centre(events.frame());
      prompts.points.push({ x, y, label: 1 });
      events.promptsChanged();
    });
  }

  /** Both lists again, from the prompts. */
  render(): void {
    this.renderPoints();
    this.renderBox();
  }

  /** The box from its fields, kept only when all four numbers make one; all four empty clears it. */
  readBox(): void {
    const values = BOX_FIELDS.map((k) => parseFloat($(`#sam2-segment-box-${k}`).val()));
    if (values.every(isFinite) && values[2] > values[0] && values[3] > values[1]) {
      this.prompts.box = values as Box;
    } else if (values.every((v) => !isFinite(v))) {
      this.prompts.box = null;
    }
  }

  private step(): string {
    return this.prompts.relative ? '0.0001' : '1';
  }

  private renderPoints(): void {
    const { prompts, _ } = this;
    const body = $('#sam2-segment-points').empty();
    const step = this.step();
    if (prompts.points.length === 0) {
      $('<tr>').append($("<td colspan='5'>").text(_('sam2-segment.points.none'))).appendTo(body);
    }
    prompts.points.forEach((p, i) => {
      const row = $('<tr>').appendTo(body);
      $('<td>').append($("<span class='sam2-segment-swatch'>").css('background', p.label === 1 ? FOREGROUND : BACKGROUND))
        .append(` ${i + 1}`).appendTo(row);
      for (const axis of ['x', 'y'] as const) {
        const input = $(`<input type='number' step='${step}' min='0'>`).addClass(`sam2-segment-point-${axis}`).val(p[axis]);
        input.on('change', () => {
          const v = parseFloat(input.val());
          if (isFinite(v)) {
            p[axis] = v;
            this.events.promptsChanged(true);
          }
        }).appendTo($('<td>').appendTo(row));
      }
      const select = $("<select class='sam2-segment-point-label'>")
        .append($("<option value='1'>").text(_('sam2-segment.points.foreground')))
        .append($("<option value='0'>").text(_('sam2-segment.points.background')))
        .val(String(p.label));
      select.on('change', () => {
        p.label = Number(select.val());
        this.events.promptsChanged();
      });
      $('<td>').append(select).appendTo(row);
      $("<button type='button' class='red-ui-button red-ui-button-small'><i class='fa fa-trash'></i></button>")
        .attr('title', _('sam2-segment.points.remove'))
        .on('click', () => {
          prompts.points.splice(i, 1);
          this.events.promptsChanged();
        }).appendTo($('<td>').appendTo(row));
    });
  }

  private renderBox(): void {
    const box = this.prompts.box;
    BOX_FIELDS.forEach((k, i) => {
      $(`#sam2-segment-box-${k}`).attr('step', this.step()).val(box ? box[i] : '');
    });
  }
}
