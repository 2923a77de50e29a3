// The whole blue/green release as one declarative pipeline, so a team's Jenkinsfile is:
//
//     @Library('pipeline-steps') _
//     blueGreenRelease(app: 'shop', config: 'deploy/pipeline.yaml')
//
// The same shape as the repository's Jenkinsfile: `agent none`; Pre-clean .. Verify Staged on one agent,
// Switch .. Post-clean on another, the state stashed between them (and kept for Restart from Stage); a
// per-app lock over the whole build; a milestone first inside the lock and before Confirm and Switch (none
// on a dry run); an approval that holds no executor; the cluster's release lock given back when the build
// ends early; a rollback when a build fails or is aborted between Switch and a passed Verify Prod. The
// release logic is the pipeline-steps command line; this file only orders its steps.

def call(Map cfg = [:]) {
    if (!cfg.app) {
        error("blueGreenRelease: name the app, e.g. blueGreenRelease(app: 'shop', config: 'deploy/pipeline.yaml')")
    }
    String app = cfg.app
    String agentLabel = cfg.agentLabel ?: 'pipeline-steps'
    String approvers = cfg.approvers ?: 'release-approvers'
    int approvalMinutes = (cfg.approvalTimeoutMinutes ?: 30) as int
    String stashName = 'release-state'
    String stashIncludes = '.pipeline-steps/**, reports/**'
    Map common = [
        config: cfg.config ?: 'deploy/pipeline.yaml',
        state: ".pipeline-steps/state/${app}.json",
    ]
    ['kubeconfigCredentialsId', 'smtpCredentialsId'].each { key ->
        if (cfg.containsKey(key)) {
            common[key] = cfg[key]
        }
    }
    // Every argument is passed: Jenkins' interpreter (CPS) does not apply the default values of closure
    // parameters, so `{ String name, Map more = [:] -> }` called with one argument gets more == null.
    Closure runStep = { String name, Map more ->
        return pipelineStep(common + [step: name, dryRun: params.DRY_RUN] + more)
    }
    // A dry run passes no milestone: it would abort an older, real release still waiting for the lock.
    Closure milestoneUnlessDryRun = { int ordinal, String label ->
        if (!params.DRY_RUN) {
            milestone(ordinal: ordinal, label: label)
        }
    }

    pipeline {
        agent none
        parameters {
            string(name: 'IMAGE', defaultValue: cfg.image ?: '', description: 'Image to release: repo:tag or repo@sha256:...')
            booleanParam(name: 'DRY_RUN', defaultValue: false, description: 'Plan every change and make none')
        }
        environment {
            // The `input` of releaseApproval is the gate: `step confirm` e-mails a link to it and hands over.
            PIPELINE_STEPS_CONFIRM_MODE = 'jenkins'
            // How long releaseApproval waits: `step confirm` warns when the release lock would expire first.
            PIPELINE_STEPS_GATE_TIMEOUT = "${approvalMinutes}m"
            PIPELINE_STEPS_IMAGE = "${params.IMAGE ?: ''}"
            PIPELINE_STEPS_RUN_ID = "${env.BUILD_TAG}"
        }
        options {
            lock(resource: "release-${app}", inversePrecedence: true)
            buildDiscarder(logRotator(numToKeepStr: '50'))
            // Stashes outlive the build, so Restart from Stage at Confirm or Release finds the state.
            preserveStashes()
        }
        stages {
            stage('Stage') {
                agent { label agentLabel }
                stages {
                    stage('Pre-clean') {
                        steps {
                            // First inside the lock: an older build that got the lock after a newer one passed
                            // this stops here, before it deploys into the newer build's rollback target.
                            script { milestoneUnlessDryRun(10, 'Start') }
                            dir('reports') { deleteDir() }
                            script { runStep('pre-clean', [:]) }
                        }
                    }
                    stage('Prepare Image') {
                        steps { script { runStep('prepare-image', [:]) } }
                    }
                    stage('Check Env') {
                        steps { script { runStep('check-env', [:]) } }
                    }
                    stage('Deploy') {
                        steps { script { runStep('deploy', [:]) } }
                    }
                    stage('Verify Staged') {
                        steps { script { runStep('verify-staged', [:]) } }
                    }
                }
                post {
                    always {
                        stash name: stashName, includes: stashIncludes, allowEmpty: true
                    }
                }
            }
            stage('Confirm') {
                agent none
                steps {
                    script { milestoneUnlessDryRun(20, 'Confirm') }
                    node(agentLabel) {
                        checkout scm
                        dir('reports') { deleteDir() }
                        script { runStep('confirm', [stash: stashName]) }
                    }
                    script {
                        if (!params.DRY_RUN) {
                            releaseApproval(submitter: approvers, timeoutMinutes: approvalMinutes,
                                            message: "Switch public traffic of ${app} to ${params.IMAGE ?: 'the staged release'}?")
                        }
                    }
                }
            }
            stage('Release') {
                agent { label agentLabel }
                stages {
                    stage('Switch') {
                        steps {
                            script { milestoneUnlessDryRun(30, 'Switch') }
                            dir('reports') { deleteDir() }
                            unstash stashName
                            script {
                                runStep('switch', [:])
                                env.PUBLIC_SWITCHED = params.DRY_RUN ? 'false' : 'true'
                            }
                        }
                    }
                    stage('Verify Prod') {
                        steps {
                            script {
                                int status = runStep('verify-prod', [returnStatus: true])
                                // 3: the checks failed and the step already switched traffic back.
                                if (status == 0 || status == 3) {
                                    env.PUBLIC_SWITCHED = 'false'
                                }
                                if (status != 0) {
                                    error("pipeline-steps step verify-prod exited ${status}")
                                }
                            }
                        }
                    }
                    stage('Post-clean') {
                        steps { script { runStep('post-clean', [:]) } }
                    }
                }
                post {
                    unsuccessful {
                        script {
                            if (env.PUBLIC_SWITCHED == 'true') {
                                runStep('rollback', [dryRun: false])
                            }
                        }
                    }
                    cleanup {
                        stash name: stashName, includes: stashIncludes, allowEmpty: true
                    }
                }
            }
        }
        post {
            always {
                node(agentLabel) {
                    dir('reports') { deleteDir() }
                    catchError(buildResult: 'SUCCESS', stageResult: 'SUCCESS', message: 'no release state was saved') {
                        unstash stashName
                    }
                    junit allowEmptyResults: true, testResults: 'reports/*.xml'
                    archiveArtifacts artifacts: 'reports/**, .pipeline-steps/state/**', allowEmptyArchive: true
                }
            }
            // The build ended early (the approval said no, or an abort or failure between two steps): the
            // cluster's release lock may still be this run's (PIPELINE_STEPS_RUN_ID) with no step running to give
            // it back. `unlock` gives back only a lock this run holds. A dry run takes no lock.
            unsuccessful {
                script {
                    if (!params.DRY_RUN) {
                        node(agentLabel) {
                            checkout scm
                            runStep('unlock', [dryRun: false])
                        }
                    }
                }
            }
        }
    }
}
