import type { ExportFormat } from '../../core/inference/export-formats.js';
import { tfjsExportFormat } from './tfjs.js';
import { webExportFormat } from './web.js';

/** Every built-in `affectlab export` format, registered by the composition root. */
export const builtinExportFormats: ExportFormat[] = [tfjsExportFormat, webExportFormat];
