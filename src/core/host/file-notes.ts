import { PLUGIN_SLOTS } from '../config/schema.js';
import type { ExperimentConfig, PluginRef } from '../config/types.js';
import type { FileNote } from '../../sdk/contracts/plugin.js';
import type { Registry } from './registry.js';

/** A file note with where in the experiment it comes from: `architecture.weights`. */
export interface ExperimentFileNote extends FileNote {
  key: string;
}

/**
 * The files an experiment's plugins fetch on first use (`weights: imagenet`): whether each is
 * cached, else where it will come from. Only the top-level slots (architecture, dataset, ...)
 * of registered plugins that declare `fileNotes`; a look at the cache, with no network.
 */
export function experimentFileNotes(
  registry: Registry,
  config: ExperimentConfig,
): ExperimentFileNote[] {
  const notes: ExperimentFileNote[] = [];
  for (const slot of PLUGIN_SLOTS) {
    const value = (config as unknown as Record<string, PluginRef | PluginRef[] | undefined>)[
      slot.key
    ];
    const refs = value === undefined ? [] : Array.isArray(value) ? value : [value];
    refs.forEach((ref, i) => {
      if (!registry.has(slot.kind, ref.type)) return;
      const { type: _type, ...options } = ref;
      const where = slot.list ? `${slot.key}[${i}]` : slot.key;
      for (const note of registry.get(slot.kind, ref.type).fileNotes?.(options) ?? [])
        notes.push({ key: `${where}.${note.option}`, ...note });
    });
  }
  return notes;
}

/** One line for `validate`: `architecture.weights: … cached: PATH` or where it will come from. */
export function formatFileNote(note: ExperimentFileNote): string {
  return note.cached
    ? `${note.key}: ${note.what} cached: ${note.path}`
    : `${note.key}: ${note.what} not cached: the run downloads ${note.url} (${note.hash}) to ${note.path}`;
}
