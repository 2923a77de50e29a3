// Waits for a person to approve the release: a Jenkins `input` limited to the submitters, bounded by
// a timeout. Call it outside any `node` block so no executor is held while waiting. Returns the
// approver's user id; a rejection or the timeout aborts the build.

def call(Map args = [:]) {
    String submitter = args.submitter ?: env.APPROVERS
    if (!submitter) {
        error('releaseApproval: name the approvers (submitter: \'user,group\'); otherwise anyone who can build could approve')
    }
    String id = args.id ?: 'ReleaseApproval'
    String message = args.message ?: 'Switch public traffic to the staged release?'
    int minutes = (args.timeoutMinutes ?: 30) as int

    String approver = timeout(time: minutes, unit: 'MINUTES') {
        input(id: id, message: message, ok: args.ok ?: 'Switch', submitter: submitter, submitterParameter: 'APPROVER')
    }
    echo "Release approved by ${approver}"
    return approver
}
