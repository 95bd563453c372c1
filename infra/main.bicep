// Smart Notes on Azure: Container Apps (web with HTTPS ingress, worker scaled on queue depth,
// a migration job), PostgreSQL Flexible Server, Key Vault for the secrets, a user-assigned
// managed identity (Graph, the bot, Key Vault, the registry), Azure Files for the models and
// the transcripts both roles share, the Azure Bot with its Teams channel, Log Analytics and
// Application Insights. docs/deploy.md walks through a deployment.
targetScope = 'resourceGroup'

@description('Prefix of every resource name (letters and digits, 3 to 12 characters).')
@minLength(3)
@maxLength(12)
param namePrefix string = 'smartnotes'

param location string = resourceGroup().location

@description('The image built from the repository Dockerfile, in a registry the identity can pull from.')
param image string

@description('Login server of that registry (myregistry.azurecr.io).')
param registryServer string

param postgresAdminLogin string = 'smartnotes'

@secure()
@description('URL-safe (letters, digits, - and _), 24 characters or more.')
param postgresAdminPassword string

@secure()
@description('Signs the calling tool webhook (32+ characters; two, comma-separated, during a rotation). Empty: the webhook is off.')
param callsSecrets string = ''

@secure()
@description('Signs the review page links (32+ characters).')
param reviewTokenSecret string

@secure()
@description('Signs the API bearer tokens (32+ characters).')
param apiTokenSecret string

@secure()
@description('Graph change notifications client state (32 to 128 characters).')
param graphClientState string = ''

@secure()
@description('Anthropic API key for task extraction. Empty: the local extractor, which says so on every run.')
param anthropicApiKey string = ''

@secure()
@description('Bearer token Prometheus scrapes /metrics with. Empty: /metrics is off.')
param metricsToken string = ''

@secure()
@description('Keys that seal stored transcripts and recordings at rest: id:base64 (32 bytes), comma-separated, the first sealing new files. Empty: stored as they are.')
param storageKeys string = ''

@secure()
@description('Bearer token of the model server (SMARTNOTES_SUMMARIZER_URL), if it wants one.')
param summarizerServerKey string = ''

@secure()
@description('Bearer key of the embeddings endpoint (SMARTNOTES_SEARCH__EMBEDDINGS_URL), if it wants one.')
param embeddingsKey string = ''

@description('Every other SMARTNOTES_* setting (docs/configuration.md), as infra/main.parameters.json lists them.')
param settings object

@description('Entra tenant whose Teams users may use the bot.')
param entraTenantId string = tenant().tenantId

@description('Web replicas: at least one is always up.')
@minValue(1)
param webMinReplicas int = 1
param webMaxReplicas int = 4

@description('Worker replicas: scaled on runs waiting in the queue.')
@minValue(1)
param workerMinReplicas int = 1
param workerMaxReplicas int = 4

@description('Runs waiting per worker replica before another one starts.')
param runsPerWorker int = 2

@description('Days the secrets stay valid in Key Vault before they must be rotated.')
param secretLifetimeDays int = 365
param now string = utcNow()

var suffix = uniqueString(resourceGroup().id, namePrefix)
var secretExpiry = dateTimeToEpoch(dateTimeAdd(now, 'P${secretLifetimeDays}D'))
var postgresHost = postgres.properties.fullyQualifiedDomainName
var databaseUrl = 'postgresql://${postgresAdminLogin}:${postgresAdminPassword}@${postgresHost}:5432/smartnotes?sslmode=require'
var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'
var acrPull = '7f951dda-4ed3-4680-a7ca-43fe172d538d'

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: '${namePrefix}-logs-${suffix}'
  location: location
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 30
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: '${namePrefix}-insights-${suffix}'
  location: location
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
  }
}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${namePrefix}-id-${suffix}'
  location: location
}

// The network: the apps in their own subnet; Key Vault and Storage answer that subnet only
// (service endpoints, deny by default); PostgreSQL has no public address at all.

resource network 'Microsoft.Network/virtualNetworks@2023-09-01' = {
  name: '${namePrefix}-vnet-${suffix}'
  location: location
  properties: {
    addressSpace: { addressPrefixes: ['10.40.0.0/16'] }
    subnets: [
      {
        name: 'apps'
        properties: {
          addressPrefix: '10.40.0.0/23'
          delegations: [{ name: 'apps', properties: { serviceName: 'Microsoft.App/environments' } }]
          serviceEndpoints: [{ service: 'Microsoft.Storage' }, { service: 'Microsoft.KeyVault' }]
        }
      }
      {
        name: 'postgres'
        properties: {
          addressPrefix: '10.40.2.0/24'
          delegations: [
            { name: 'postgres', properties: { serviceName: 'Microsoft.DBforPostgreSQL/flexibleServers' } }
          ]
        }
      }
    ]
  }
}

var appsSubnetId = '${network.id}/subnets/apps'
var postgresSubnetId = '${network.id}/subnets/postgres'

resource postgresDns 'Microsoft.Network/privateDnsZones@2020-06-01' = {
  name: '${namePrefix}-${suffix}.private.postgres.database.azure.com'
  location: 'global'
}

resource postgresDnsLink 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2020-06-01' = {
  parent: postgresDns
  name: 'apps'
  location: 'global'
  properties: {
    registrationEnabled: false
    virtualNetwork: { id: network.id }
  }
}

// The secrets ------------------------------------------------------------------------------

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_189: the public endpoint answers only the apps subnet (service endpoint, deny by default); private endpoints are the variant in docs/deploy.md
  name: take('${namePrefix}kv${suffix}', 24)
  location: location
  properties: {
    tenantId: tenant().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Deny'
      virtualNetworkRules: [{ id: appsSubnetId, ignoreMissingVnetServiceEndpoint: false }]
    }
  }
}

// The secrets the apps read, each as an environment variable; optional ones only when given,
// since an empty one would switch a feature on with no key.
var requiredSecrets = [
  { key: 'database-url', env: 'SMARTNOTES_DATABASE_URL', value: databaseUrl }
  { key: 'review-token-secret', env: 'SMARTNOTES_REVIEW__TOKEN_SECRET', value: reviewTokenSecret }
  { key: 'api-token-secret', env: 'SMARTNOTES_API_TOKEN_SECRET', value: apiTokenSecret }
]
var callsSecret = empty(callsSecrets) ? [] : [{ key: 'calls-secrets', env: 'SMARTNOTES_CALLS__SECRETS', value: callsSecrets }]
var clientStateSecret = empty(graphClientState) ? [] : [{ key: 'graph-client-state', env: 'SMARTNOTES_GRAPH__CLIENT_STATE', value: graphClientState }]
var anthropicSecret = empty(anthropicApiKey) ? [] : [{ key: 'anthropic-api-key', env: 'SMARTNOTES_ANTHROPIC_API_KEY', value: anthropicApiKey }]
var metricsSecret = empty(metricsToken) ? [] : [{ key: 'metrics-token', env: 'SMARTNOTES_METRICS_TOKEN', value: metricsToken }]
var storageKeysSecret = empty(storageKeys) ? [] : [{ key: 'storage-keys', env: 'SMARTNOTES_STORAGE_KEYS', value: storageKeys }]
var modelServerSecret = empty(summarizerServerKey) ? [] : [{ key: 'summarizer-server-key', env: 'SMARTNOTES_SUMMARIZER_SERVER_KEY', value: summarizerServerKey }]
var embeddingsSecret = empty(embeddingsKey) ? [] : [{ key: 'embeddings-key', env: 'SMARTNOTES_SEARCH__EMBEDDINGS_KEY', value: embeddingsKey }]
var appSecrets = concat(requiredSecrets, callsSecret, clientStateSecret, anthropicSecret, metricsSecret, modelServerSecret, storageKeysSecret, embeddingsSecret)
// The worker's scale rule reads the job table with the database password.
var givenSecrets = concat(appSecrets, [{ key: 'postgres-password', env: '', value: postgresAdminPassword }])

resource secrets 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = [
  for secret in givenSecrets: {
    parent: vault
    name: secret.key
    properties: {
      value: secret.value
      contentType: 'text/plain'
      attributes: {
        enabled: true
        exp: secretExpiry
      }
    }
  }
]

resource vaultAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identity.id, keyVaultSecretsUser)
  scope: vault
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
  }
}

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' existing = {
  name: split(registryServer, '.')[0]
}

resource registryAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(registry.id, identity.id, acrPull)
  scope: registry
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', acrPull)
  }
}

// The database -----------------------------------------------------------------------------

resource postgres 'Microsoft.DBforPostgreSQL/flexibleServers@2022-12-01' = {
  name: '${namePrefix}-pg-${suffix}'
  location: location
  sku: {
    name: 'Standard_D2ds_v5'
    tier: 'GeneralPurpose'
  }
  properties: {
    version: '16'
    administratorLogin: postgresAdminLogin
    administratorLoginPassword: postgresAdminPassword
    storage: { storageSizeGB: 64 }
    backup: {
      backupRetentionDays: 14
      geoRedundantBackup: 'Enabled'
    }
    highAvailability: { mode: 'Disabled' }
    network: {
      delegatedSubnetResourceId: postgresSubnetId
      privateDnsZoneArmResourceId: postgresDns.id
    }
  }
  dependsOn: [postgresDnsLink]
}

resource database 'Microsoft.DBforPostgreSQL/flexibleServers/databases@2022-12-01' = {
  parent: postgres
  name: 'smartnotes'
  properties: {
    charset: 'UTF8'
    collation: 'en_US.utf8'
  }
}

resource postgresTls 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2022-12-01' = {
  parent: postgres
  name: 'require_secure_transport'
  properties: {
    value: 'on'
    source: 'user-override'
  }
}

resource postgresConnectionLogs 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2022-12-01' = {
  parent: postgres
  name: 'log_connections'
  properties: {
    value: 'on'
    source: 'user-override'
  }
  dependsOn: [postgresTls]
}

// Files: the models (uploaded once) and the transcripts web and worker share -------------

resource storage 'Microsoft.Storage/storageAccounts@2023-01-01' = {
  // checkov:skip=CKV_AZURE_43: take() of a lowercase prefix and uniqueString() is a valid name; checkov cannot evaluate it
  // checkov:skip=CKV_AZURE_59: the public endpoint answers only the apps subnet (service endpoint, deny by default)
  name: toLower(take('${namePrefix}st${suffix}', 24))
  location: location
  kind: 'StorageV2'
  sku: { name: 'Standard_GRS' }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: true // Azure Files mounts in Container Apps use the account key
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Deny'
      virtualNetworkRules: [{ id: appsSubnetId, action: 'Allow' }]
    }
  }
}

resource fileService 'Microsoft.Storage/storageAccounts/fileServices@2023-01-01' = {
  parent: storage
  name: 'default'
  properties: {
    shareDeleteRetentionPolicy: {
      enabled: true
      days: 14
    }
  }
}

resource modelsShare 'Microsoft.Storage/storageAccounts/fileServices/shares@2023-01-01' = {
  parent: fileService
  name: 'models'
  properties: { shareQuota: 64 }
}

resource dataShare 'Microsoft.Storage/storageAccounts/fileServices/shares@2023-01-01' = {
  parent: fileService
  name: 'data'
  properties: { shareQuota: 256 }
}

// The apps ---------------------------------------------------------------------------------

resource environment 'Microsoft.App/managedEnvironments@2024-03-01' = {
  name: '${namePrefix}-env-${suffix}'
  location: location
  properties: {
    vnetConfiguration: {
      infrastructureSubnetId: appsSubnetId
      internal: false
    }
    workloadProfiles: [{ name: 'Consumption', workloadProfileType: 'Consumption' }]
    appLogsConfiguration: {
      destination: 'log-analytics'
      logAnalyticsConfiguration: {
        customerId: logs.properties.customerId
        sharedKey: logs.listKeys().primarySharedKey
      }
    }
  }
}

resource modelsStorage 'Microsoft.App/managedEnvironments/storages@2024-03-01' = {
  parent: environment
  name: 'models'
  properties: {
    azureFile: {
      accountName: storage.name
      accountKey: storage.listKeys().keys[0].value
      shareName: modelsShare.name
      accessMode: 'ReadOnly'
    }
  }
}

resource dataStorage 'Microsoft.App/managedEnvironments/storages@2024-03-01' = {
  parent: environment
  name: 'data'
  properties: {
    azureFile: {
      accountName: storage.name
      accountKey: storage.listKeys().keys[0].value
      shareName: dataShare.name
      accessMode: 'ReadWrite'
    }
  }
}

var vaultSecrets = [
  for secret in givenSecrets: {
    name: secret.key
    keyVaultUrl: '${vault.properties.vaultUri}secrets/${secret.key}'
    identity: identity.id
  }
]

var webHost = '${namePrefix}-web.${environment.properties.defaultDomain}'

var settingsEnv = [for s in items(settings): { name: s.key, value: string(s.value) }]
var secretsEnv = [for s in appSecrets: { name: s.env, secretRef: s.key }]

var deploymentEnv = [
  { name: 'SMARTNOTES_HOST', value: '0.0.0.0' }
  { name: 'SMARTNOTES_PORT', value: '8080' }
  { name: 'SMARTNOTES_DATA_DIR', value: '/var/lib/smartnotes' }
  { name: 'SMARTNOTES_REVIEW__PUBLIC_URL', value: 'https://${webHost}' }
  // One identity for Graph (application permissions granted to it), the bot and Key Vault.
  { name: 'SMARTNOTES_GRAPH__CLIENT_ID', value: identity.properties.clientId }
  { name: 'SMARTNOTES_GRAPH__TENANT_ID', value: entraTenantId }
  { name: 'SMARTNOTES_BOT__APP_ID', value: identity.properties.clientId }
  { name: 'SMARTNOTES_BOT__AAD_TENANT_ID', value: entraTenantId }
  { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: insights.properties.ConnectionString }
]
var commonEnv = concat(settingsEnv, secretsEnv, deploymentEnv)
var webEnv = concat(commonEnv, [{ name: 'SMARTNOTES_FORWARDED_ALLOW_IPS', value: '*' }])
// Three of the four vCPUs for llama.cpp: the job loop, the database and the other run keep
// one (the default would find the same from the container's CPU limit; said here for clarity).
var workerEnv = concat(commonEnv, [{ name: 'SMARTNOTES_SUMMARIZER_THREADS', value: '3' }])

var volumes = [
  { name: 'models', storageType: 'AzureFile', storageName: modelsStorage.name }
  { name: 'data', storageType: 'AzureFile', storageName: dataStorage.name }
]

var volumeMounts = [
  { volumeName: 'models', mountPath: '/models' }
  { volumeName: 'data', mountPath: '/var/lib/smartnotes' }
]

resource web 'Microsoft.App/containerApps@2024-03-01' = {
  name: '${namePrefix}-web'
  location: location
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identity.id}': {} }
  }
  properties: {
    managedEnvironmentId: environment.id
    configuration: {
      activeRevisionsMode: 'Single'
      ingress: {
        external: true
        targetPort: 8080
        transport: 'auto'
        allowInsecure: false
      }
      registries: [{ server: registryServer, identity: identity.id }]
      secrets: vaultSecrets
    }
    template: {
      containers: [
        {
          name: 'web'
          image: image
          args: ['serve', '--no-process']
          env: webEnv
          resources: { cpu: json('1.0'), memory: '2Gi' }
          volumeMounts: volumeMounts
          probes: [
            {
              type: 'Liveness'
              httpGet: { path: '/healthz', port: 8080 }
              periodSeconds: 30
            }
            {
              type: 'Readiness'
              httpGet: { path: '/readyz', port: 8080 }
              periodSeconds: 10
            }
          ]
        }
      ]
      volumes: volumes
      scale: {
        minReplicas: webMinReplicas
        maxReplicas: webMaxReplicas
        rules: [
          {
            name: 'concurrent-requests'
            http: { metadata: { concurrentRequests: '200' } }
          }
        ]
      }
    }
  }
  dependsOn: [vaultAccess, registryAccess, secrets]
}

resource worker 'Microsoft.App/containerApps@2024-03-01' = {
  name: '${namePrefix}-worker'
  location: location
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identity.id}': {} }
  }
  properties: {
    managedEnvironmentId: environment.id
    configuration: {
      activeRevisionsMode: 'Single'
      registries: [{ server: registryServer, identity: identity.id }]
      secrets: vaultSecrets
    }
    template: {
      containers: [
        {
          name: 'worker'
          image: image
          args: ['worker', '--concurrency', '2']
          env: workerEnv
          resources: { cpu: json('4.0'), memory: '8Gi' }
          volumeMounts: volumeMounts
        }
      ]
      volumes: volumes
      scale: {
        minReplicas: workerMinReplicas
        maxReplicas: workerMaxReplicas
        rules: [
          {
            // KEDA's PostgreSQL scaler on the job table: one replica per runsPerWorker runs
            // waiting or in progress.
            name: 'runs-waiting'
            custom: {
              type: 'postgresql'
              metadata: {
                host: postgresHost
                port: '5432'
                userName: postgresAdminLogin
                dbName: 'smartnotes'
                sslmode: 'require'
                query: 'SELECT count(*) FROM procrastinate_jobs WHERE queue_name = \'runs\' AND status IN (\'todo\', \'doing\')'
                targetQueryValue: string(runsPerWorker)
              }
              auth: [{ secretRef: 'postgres-password', triggerParameter: 'password' }]
            }
          }
        ]
      }
    }
  }
  dependsOn: [vaultAccess, registryAccess, secrets]
}

// `smartnotes db upgrade`, started before a new image rolls out (docs/deploy.md, "Upgrades").
resource migrate 'Microsoft.App/jobs@2024-03-01' = {
  name: '${namePrefix}-migrate'
  location: location
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identity.id}': {} }
  }
  properties: {
    environmentId: environment.id
    configuration: {
      triggerType: 'Manual'
      replicaTimeout: 900
      replicaRetryLimit: 1
      manualTriggerConfig: { parallelism: 1, replicaCompletionCount: 1 }
      registries: [{ server: registryServer, identity: identity.id }]
      secrets: vaultSecrets
    }
    template: {
      containers: [
        {
          name: 'migrate'
          image: image
          args: ['db', 'upgrade']
          env: commonEnv
          resources: { cpu: json('0.5'), memory: '1Gi' }
        }
      ]
    }
  }
  dependsOn: [vaultAccess, registryAccess, secrets]
}

// Teams ------------------------------------------------------------------------------------

resource bot 'Microsoft.BotService/botServices@2022-09-15' = {
  name: '${namePrefix}-bot-${suffix}'
  location: 'global'
  kind: 'azurebot'
  sku: { name: 'S1' }
  properties: {
    displayName: 'Smart Notes'
    endpoint: 'https://${web.properties.configuration.ingress.fqdn}/api/messages'
    msaAppId: identity.properties.clientId
    msaAppType: 'UserAssignedMSI'
    msaAppMSIResourceId: identity.id
    msaAppTenantId: entraTenantId
    developerAppInsightKey: insights.properties.InstrumentationKey
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
  }
}

resource teams 'Microsoft.BotService/botServices/channels@2022-09-15' = {
  parent: bot
  name: 'MsTeamsChannel'
  location: 'global'
  properties: {
    channelName: 'MsTeamsChannel'
    properties: { isEnabled: true }
  }
}

// Upper-case names: the Agents Toolkit writes each output to the environment file under its
// name upper-cased (m365agents.yml reads WEB_URL, BOT_ID, ...).
output WEB_URL string = 'https://${web.properties.configuration.ingress.fqdn}'
output WEB_HOST string = web.properties.configuration.ingress.fqdn
output WEB_APP string = web.name
output WORKER_APP string = worker.name
output MIGRATE_JOB string = migrate.name
output BOT_ID string = identity.properties.clientId
output IDENTITY_PRINCIPAL_ID string = identity.properties.principalId
output KEY_VAULT string = vault.name
output STORAGE_ACCOUNT string = storage.name
