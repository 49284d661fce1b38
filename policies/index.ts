/**
 * policies/: the lifecycle policy files (the shipped default.yaml and
 * ocsp.yaml) and the code that reads them. Its own component, apart from
 * core, because reading YAML loads the `yaml` package: only the commands that
 * read a policy or a scenario pay for it, not every start of the command. The
 * policy as data (vocabulary, LifecyclePolicy, DEFAULT_POLICY) stays in core.
 */
export * from "./yaml-source.js";
export * from "./policy-file.js";
