package harness

/** hudson.EnvVars as `withEnv`, declarative `environment {}` and `env.X = ...` apply it. */
class EnvVars {
    /** EnvVars.override: an empty or null value REMOVES the variable (it is not set to ""); `PATH+NAME=dir`
     *  prepends dir to PATH. EnvVars.overrideExpandingAll expands `$VAR` and `${VAR}` of variables already set
     *  (Util.replaceMacro: unknown ones are left as they are). */
    static void override(Map<String, String> env, String key, String value, boolean expand = true) {
        String expanded = expand && value != null ? replaceMacro(value, env) : value
        int plus = key.indexOf('+')
        if (plus > 0) {
            String real = key.substring(0, plus)
            if (expanded) {
                String old = env[real]
                env[real] = old ? expanded + File.pathSeparator + old : expanded
            }
            return
        }
        if (expanded == null || expanded.isEmpty()) {
            env.remove(key)
        } else {
            env[key] = expanded
        }
    }

    /** `withEnv(['A=1', 'B='])`: each entry NAME=VALUE, split at the first `=`. */
    static void overrideAll(Map<String, String> env, List<String> entries) {
        for (String entry : entries) {
            int eq = entry.indexOf('=')
            if (eq <= 0) {
                throw new PipelineError("withEnv: '${entry}' is not NAME=VALUE")
            }
            override(env, entry.substring(0, eq), entry.substring(eq + 1))
        }
    }

    static String replaceMacro(String text, Map<String, String> env) {
        def pattern = ~/\$\{([A-Za-z_][A-Za-z0-9_.]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/
        def matcher = pattern.matcher(text)
        StringBuffer out = new StringBuffer()
        while (matcher.find()) {
            String name = matcher.group(1) ?: matcher.group(2)
            String replacement = env.containsKey(name) ? env[name] : matcher.group(0)
            matcher.appendReplacement(out, java.util.regex.Matcher.quoteReplacement(replacement))
        }
        matcher.appendTail(out)
        return out.toString()
    }
}
