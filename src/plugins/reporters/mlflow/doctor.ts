import type { DoctorSection } from '../../../core/plugin/extensions.js';

interface MlflowSettings {
  [key: string]: string | boolean | null;
  configured: boolean;
  trackingUri: string | null;
  auth: 'token' | 'basic' | 'none';
}

/** `affectlab doctor`: the MLflow settings the environment gives (no request is made). */
export const mlflowDoctorSection: DoctorSection<MlflowSettings> = {
  name: 'mlflow',
  collect: () => ({
    configured: Boolean(process.env.MLFLOW_TRACKING_URI),
    trackingUri: process.env.MLFLOW_TRACKING_URI ?? null,
    auth: process.env.MLFLOW_TRACKING_TOKEN
      ? 'token'
      : process.env.MLFLOW_TRACKING_USERNAME
        ? 'basic'
        : 'none',
  }),
  format: (value) => [
    value.configured
      ? `${value.trackingUri} (auth: ${value.auth})`
      : 'not configured (set MLFLOW_TRACKING_URI or add a reporter of type mlflow)',
  ],
};
