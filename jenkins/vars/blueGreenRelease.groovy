// The whole blue/green release as one declarative pipeline, so a team's Jenkinsfile is:
//
//     @Library('pipeline-steps') _
//     blueGreenRelease(app: 'shop', config: 'deploy/pipeline.yaml')
//
// The same shape as the repository's Jenkinsfile: `agent none`; Pre-clean .. Verify Staged on one agent,
// Switch .. Post-clean on another, the state stashed between them; a per-app lock over the whole build;
// milestones before Confirm and Switch; an approval that holds no executor; the cluster's release lock given
// back when the approval says no; a rollback when a build fails or is aborted between Switch and a passed
// Verify Prod. The release logic is the pipeline-steps command line; this file only orders its steps.

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
    Closure runStep = { String name, Map more = [:] ->
        return pipelineStep(common + [step: name, dryRun: params.DRY_RUN] + more)
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
            PIPELINE_STEPS_IMAGE = "${params.IMAGE ?: ''}"
            PIPELINE_STEPS_RUN_ID = "${env.BUILD_TAG}"
        }
        options {
            lock(resource: "release-${app}", inversePrecedence: true)
            buildDiscarder(logRotator(numToKeepStr: '50'))
        }
        stages {
            stage('Stage') {
                agent { label agentLabel }
                stages {
                    stage('Pre-clean') {
                        steps {
                            dir('reports') { deleteDir() }
                            script { runStep('pre-clean') }
                        }
                    }
                    stage('Prepare Image') {
                        steps { script { runStep('prepare-image') } }
                    }
                    stage('Check Env') {
                        steps { script { runStep('check-env') } }
                    }
                    stage('Deploy') {
                        steps { script { runStep('deploy') } }
                    }
                    stage('Verify Staged') {
                        steps { script { runStep('verify-staged') } }
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
                    milestone(ordinal: 10, label: 'Confirm')
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
                post {
                    // The approval said no (rejected, timed out, aborted): the cluster's release lock, kept while
                    // a person looked at the staged role, is still this run's (PIPELINE_STEPS_RUN_ID). Give it
                    // back, so the next build need not wait for it to expire. A dry run takes no lock; later
                    // stages need no such post, since each step gives the lock back itself when it fails.
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
            stage('Release') {
                agent { label agentLabel }
                stages {
                    stage('Switch') {
                        steps {
                            milestone(ordinal: 20, label: 'Switch')
                            dir('reports') { deleteDir() }
                            unstash stashName
                            script {
                                runStep('switch')
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
                        steps { script { runStep('post-clean') } }
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
        }
    }
}
