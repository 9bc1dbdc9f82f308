/**
 * Run in a child process by vector-image.ts: reads an SVG on stdin, writes it as PNG on stdout.
 * A separate process because librsvg's cost is not bounded by the pixel limit and cannot be
 * interrupted (sharp's timeout is not checked while librsvg draws): a kilobyte of nested
 * `<use>` took 17 s here. The parent kills this process at its deadline.
 * argv[2]: the pixel limit.
 */
import sharp from 'sharp';

sharp.concurrency(1);
const chunks: Buffer[] = [];
process.stdin.on('data', (chunk: Buffer) => chunks.push(chunk));
process.stdin.on('end', () => {
  sharp(Buffer.concat(chunks), { limitInputPixels: Number(process.argv[2]) || 1 })
    .png({ compressionLevel: 1 })
    .toBuffer()
    .then(
      (png) => process.stdout.write(png, () => process.exit(0)),
      (err: Error) => process.stderr.write(err.message.split('\n')[0], () => process.exit(2)),
    );
});
