package harness

/** The agents of the scenario's Jenkins: each keeps one workspace per job between builds, as Jenkins does
 *  (`<agent>/workspace/<job>`, `@2` when another build of the job is using it). `node` and `agent { label }`
 *  take the next agent in turn, so consecutive allocations land on different agents and only what is
 *  stashed travels between them. */
class Agents {
    final File root
    final List<String> names
    final List<String> labels
    int turn = 0
    /** workspace path -> the build using it */
    Map<String, String> busy = [:]

    Agents(File root, int count, List<String> labels) {
        this.root = root
        this.names = (1..count).collect { "agent-${it}".toString() }
        this.labels = labels
    }

    Map allocate(Build build, String label) {
        if (label != null && !(label in labels)) {
            throw new PipelineError("There are no nodes with the label '${label}'")
        }
        String agent = names[turn % names.size()]
        turn += 1
        File base = new File(root, "${agent}/workspace/${build.job.name.replace('/', '_')}")
        File workspace = base
        int suffix = 2
        while (busy.containsKey(workspace.path)) {
            workspace = new File("${base.path}@${suffix}")
            suffix += 1
        }
        workspace.mkdirs()
        busy[workspace.path] = build.id
        build.allocations += 1
        return [type: 'node', agent: agent, workspace: workspace.path, label: label]
    }

    void release(Map node) {
        busy.remove(node.workspace as String)
    }
}
