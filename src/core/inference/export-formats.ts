/**
 * `affectlab export --format <name>`: the formats a trained run can be written in. Core knows
 * the interface only; the composition root registers the formats (tfjs, web, keras, mlflow...),
 * and a format may build on another one (the MLflow model wraps the Keras file).
 */
import { NamedRegistry } from '../host/named-registry.js';
import type { Logger } from '../../sdk/services.js';
import type { TrainedRun } from './trained-run.js';

export interface ExportContext {
  run: TrainedRun;
  /** The directory to write into: created and empty when the format is called. */
  outDir: string;
  logger: Logger;
  /** Every registered format, for formats that build on another. */
  formats: ExportFormatRegistry;
}

export interface ExportResult {
  /** The main thing written (a file or a folder), absolute. */
  path: string;
  /** Every file written, relative to outDir. */
  files: string[];
  /** Lines worth telling the user (how to load it, what it needs). */
  notes?: string[];
}

export interface ExportFormat {
  /** The `--format` value. */
  name: string;
  description: string;
  /**
   * The extension of the one file this format's result is (`.keras`), when it is one: an
   * `--out` ending in it names that file rather than a folder.
   */
  fileExtension?: string;
  export(context: ExportContext): Promise<ExportResult>;
}

/** Export formats by name; registration is explicit and a name is taken once. */
export class ExportFormatRegistry {
  private readonly formats = new NamedRegistry<ExportFormat>('export format');

  register(format: ExportFormat): void {
    this.formats.register(format.name, format);
  }

  has(name: string): boolean {
    return this.formats.has(name);
  }

  get(name: string): ExportFormat {
    return this.formats.get(name);
  }

  names(): string[] {
    return this.formats.names();
  }

  list(): ExportFormat[] {
    return this.names().map((n) => this.formats.get(n));
  }
}
