/**
 * Striking while bytes flow: the stub virt-v2v, when slowed down, writes its
 * output file in order (through a pipe), so the file's size tells how far the
 * copy has got.
 */

/**
 * Calls `strike` once `target` holds between a quarter and three quarters of
 * `size` bytes: the export has sent some of the disk, not all of it. Returns
 * a function that stops watching.
 */
export function whenMidCopy(target: string, size: number, strike: () => void): () => void {
  let struck = false;
  const timer = setInterval(async () => {
    const now = await Deno.stat(target).then((s) => s.size, () => 0);
    if (!struck && now > size / 4 && now < (size * 3) / 4) {
      struck = true;
      clearInterval(timer);
      strike();
    } else if (now >= size) clearInterval(timer);
  }, 20);
  return () => clearInterval(timer);
}
