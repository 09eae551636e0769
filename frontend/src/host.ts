// The tab's ties to the TensorBoard page around its iframe: reload notices and dark mode.

const BOOTSTRAP = "experimental.bootstrap";
const DATA_RELOADED = "experimental.DataReloaded";

interface IpcMessage {
  type: string;
  id: number;
  payload: unknown;
  error: string | null;
  isReply: boolean;
}

/**
 * Calls `onReload` whenever TensorBoard reloads its data (its reload button and auto-reload).
 * The guest side of TensorBoard's plugin message protocol; false when not inside TensorBoard.
 */
export function listenForReloads(onReload: () => void): boolean {
  if (window.parent === window) return false;
  const channel = new MessageChannel();
  channel.port1.onmessage = (event: MessageEvent<string>) => {
    const message = JSON.parse(event.data) as IpcMessage;
    if (message.isReply) return;
    if (message.type === DATA_RELOADED) onReload();
    // TensorBoard waits for an answer to every message it sends.
    const reply: IpcMessage = { type: message.type, id: message.id, payload: null, error: null, isReply: true };
    channel.port1.postMessage(JSON.stringify(reply));
  };
  window.parent.postMessage(BOOTSTRAP, window.location.origin, [channel.port2]);
  return true;
}

/** The TensorBoard page's body when it can be read (same origin), else null. */
function hostBody(): HTMLElement | null {
  try {
    return window.parent !== window ? window.parent.document.body : null;
  } catch {
    return null; // a cross-origin embedding: fall back to the system setting
  }
}

/**
 * Calls `apply(dark)` now and whenever the theme changes: TensorBoard's own dark mode (its body's
 * "dark-mode" class) when readable, else the system's prefers-color-scheme.
 */
export function followTheme(apply: (dark: boolean) => void): void {
  const media = window.matchMedia("(prefers-color-scheme: dark)");
  const body = hostBody();
  let dark = body ? body.classList.contains("dark-mode") : media.matches;
  apply(dark);
  const check = () => {
    const now = body ? body.classList.contains("dark-mode") : media.matches;
    if (now !== dark) apply((dark = now));
  };
  if (body) new MutationObserver(check).observe(body, { attributes: true, attributeFilter: ["class"] });
  else media.addEventListener("change", check);
}
