/**
 * The prompts being edited in the sam2-segment dialog: points, a box, and the units they are
 * kept in (the node's `coordinates`: frame pixels, or 0..1 of the frame). The picker canvas
 * and the points table both change this one object; only Done writes it back to the node.
 */

export interface Point {
  x: number;
  y: number;
  /** 1 foreground, 0 background. */
  label: number;
}

/** x1, y1, x2, y2 with x2 > x1 and y2 > y1. */
export type Box = [number, number, number, number];

export type Coordinates = 'pixels' | 'relative';

export interface FrameSize {
  width: number;
  height: number;
}

export class Prompts {
  points: Point[];
  box: Box | null;
  coordinates: Coordinates;

  /** From the node's saved properties, whatever a flow written by hand put there. */
  constructor(saved: { points?: unknown; box?: unknown; coordinates?: unknown }) {
    this.points = (Array.isArray(saved.points) ? (saved.points as Array<{ x?: unknown; y?: unknown; label?: unknown }>) : []).map((p) => ({
      x: Number(p.x),
      y: Number(p.y),
      label: p.label === 0 ? 0 : 1,
    }));
    this.box = Array.isArray(saved.box) && saved.box.length === 4 ? (saved.box.map(Number) as Box) : null;
    this.coordinates = saved.coordinates === 'relative' ? 'relative' : 'pixels';
  }

  get relative(): boolean {
    return this.coordinates === 'relative';
  }

  /** To whole pixels, or 4 decimals of the frame. */
  round(v: number): number {
    return this.relative ? Math.round(v * 10000) / 10000 : Math.round(v);
  }

  /**
   * Switches the units; with a frame on show the prompts are converted by its size, without
   * one there is no size to convert with and the numbers stay as typed. False when unchanged.
   */
  convertTo(next: Coordinates, frame: FrameSize | null): boolean {
    if (next === this.coordinates) {
      return false;
    }
    this.coordinates = next;
    if (frame) {
      const [fx, fy] = next === 'relative' ? [1 / frame.width, 1 / frame.height] : [frame.width, frame.height];
      for (const p of this.points) {
        p.x = this.round(p.x * fx);
        p.y = this.round(p.y * fy);
      }
      if (this.box) {
        const b = this.box;
        this.box = [this.round(b[0] * fx), this.round(b[1] * fy), this.round(b[2] * fx), this.round(b[3] * fy)];
      }
    }
    return true;
  }

  /** Where a point added by the button goes: the frame's centre (the origin with no frame in pixels). */
  centre(frame: FrameSize | null): [number, number] {
    if (this.relative) {
      return [0.5, 0.5];
    }
    return frame ? [Math.round(frame.width / 2), Math.round(frame.height / 2)] : [0, 0];
  }

  /** As the node stores them. */
  saved(): { points: Point[]; box: Box | null } {
    return { points: this.points.map((p) => ({ x: p.x, y: p.y, label: p.label })), box: this.box };
  }
}
