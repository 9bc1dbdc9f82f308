/**
 * Where the picker's frame comes from: the deployed node's last frame (Last frame button, and
 * on opening the dialog), or an image file opened from the user's computer (Open image). A
 * file stays in the browser as a data URL; it goes to the runtime only with Try.
 */
import { lastFrame } from '../shared/admin';
import type { PickerCanvas } from './picker-canvas';

export class FrameSource {
  /** The last frame's object URL, released when replaced and when the dialog closes. */
  private objectUrl: string | null = null;

  constructor(
    private readonly nodeId: string,
    private readonly _: RED.EditorNode['_'],
    private readonly picker: PickerCanvas,
  ) {
    $('#sam2-segment-reload').on('click', () => this.loadLast());
    $('#sam2-segment-open').on('click', () => {
      $('#sam2-segment-file').trigger('click');
    });
    const input = document.getElementById('sam2-segment-file') as HTMLInputElement;
    $('#sam2-segment-file').on('change', () => {
      const file = input.files && input.files[0];
      input.value = '';
      if (file) {
        this.open(file);
      }
    });
  }

  loadLast(): void {
    const { _, picker } = this;
    picker.showMessage(_('sam2-segment.frame.loading'));
    lastFrame(
      this.nodeId,
      ({ jpeg, width, height }) => {
        this.release();
        const url = URL.createObjectURL(jpeg);
        this.objectUrl = url;
        const img = new Image();
        img.onload = () => {
          picker.setFrame(
            { img, width: width || img.naturalWidth, height: height || img.naturalHeight, dataUrl: null },
            _('sam2-segment.frame.fromNode', { width, height }),
          );
        };
        img.src = url;
      },
      (said) => {
        picker.showMessage(said ? `${said}.` : `${_('sam2-segment.frame.none')} ${_('sam2-segment.frame.noneHelp')}`);
      },
    );
  }

  release(): void {
    if (this.objectUrl) {
      URL.revokeObjectURL(this.objectUrl);
      this.objectUrl = null;
    }
  }

  private open(file: File): void {
    const { _, picker } = this;
    const reader = new FileReader();
    reader.onload = () => {
      const dataUrl = reader.result as string;
      const img = new Image();
      img.onload = () => {
        this.release();
        picker.setFrame(
          { img, width: img.naturalWidth, height: img.naturalHeight, dataUrl },
          _('sam2-segment.frame.fromFile', { name: file.name, width: img.naturalWidth, height: img.naturalHeight }),
        );
      };
      img.onerror = () => {
        picker.showMessage(_('sam2-segment.frame.unreadable'));
      };
      img.src = dataUrl;
    };
    reader.readAsDataURL(file);
  }
}
